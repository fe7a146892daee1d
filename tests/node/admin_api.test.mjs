// A whole chat against the running `liveagent-sim-server`, driven from JavaScript the way a client's author would
// test a bot: the visitor side with fetch, the agent side through the admin API under /__sim/. Node 20's own
// `fetch` and `node:test`; no npm dependencies.
//
// Run: cargo build -p liveagent-sim-server && node --test tests/node/
// The binary is target/debug/liveagent-sim-server (or $LIVEAGENT_SIM_SERVER); without it the test is skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.LIVEAGENT_SIM_SERVER ?? join(root, 'target', 'debug', 'liveagent-sim-server');

async function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'sim-server-'));
  const portFile = join(dir, 'port');
  // The agent never accepts by itself: this test is the agent.
  const child = spawn(binary, ['--listen', '127.0.0.1:0', '--port-file', portFile, '--accept-after-ms', '3600000',
    '--poll-hold-ms', '5000'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 200 && !existsSync(portFile); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = readFileSync(portFile, 'utf8').trim();
  return {
    base: `http://127.0.0.1:${port}`,
    // End of input on stdin stops the server; it prints the report and exits 0.
    async stop() {
      child.stdin.end();
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return { code, stdout };
    },
  };
}

test('a chat driven through the admin API: the agent says X, the visitor receives it', {
  skip: existsSync(binary) ? false : `no ${binary} (cargo build -p liveagent-sim-server)`,
  timeout: 60_000,
}, async () => {
  const server = await startServer();
  const api = `${server.base}/chat/rest`;
  const admin = `${server.base}/__sim`;
  const version = { 'X-LIVEAGENT-API-VERSION': '59' };
  try {
    // The admin API answers JSON, and refuses bad input with a message.
    let r = await fetch(`${admin}/report`);
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).sessions, []);
    r = await fetch(`${admin}/scenario`, { method: 'PUT', body: '{"dialect": {"no-such-switch": "x"}}' });
    assert.equal(r.status, 400);
    assert.match((await r.json()).error, /no-such-switch|unknown/);

    // The visitor: SessionId, ChasitorInit, the first poll.
    r = await fetch(`${api}/System/SessionId`, { headers: { ...version, 'X-LIVEAGENT-AFFINITY': 'null' } });
    assert.equal(r.status, 200);
    const session = await r.json();
    const headers = {
      ...version,
      'X-LIVEAGENT-SESSION-KEY': session.key,
      'X-LIVEAGENT-AFFINITY': session.affinityToken,
      'Content-Type': 'application/json',
    };
    let sequence = 0;
    const post = (noun, body) => fetch(`${api}/Chasitor/${noun}`, {
      method: 'POST',
      headers: { ...headers, 'X-LIVEAGENT-SEQUENCE': String(++sequence) },
      body: JSON.stringify(body),
    });
    let ack = -1;
    const poll = async () => {
      for (;;) {
        const p = await fetch(`${api}/System/Messages?ack=${ack}`, { headers });
        if (p.status === 204) continue;
        assert.equal(p.status, 200);
        const batch = await p.json();
        ack = batch.sequence;
        return batch.messages;
      }
    };
    r = await post('ChasitorInit', {
      organizationId: '00D000000000001', deploymentId: '572000000000001', buttonId: '573000000000001',
      sessionId: session.id, userAgent: 'node', language: 'en-US', screenResolution: '1x1', visitorName: 'Ada',
      prechatDetails: [], prechatEntities: [], receiveQueueUpdates: true, isPost: true,
    });
    assert.equal(r.status, 200);
    assert.deepEqual((await poll()).map((m) => m.type), ['ChatRequestSuccess']);

    // The session as the admin API sees it.
    r = await fetch(`${admin}/sessions`);
    const sessions = await r.json();
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0].id, session.id);
    assert.equal(sessions[0].state, 'queued');
    const agent = `${admin}/sessions/${session.id}`;

    // Saying something before accepting is out of order: 409, nothing happens.
    r = await fetch(`${agent}/say`, { method: 'POST', body: '{"text": "too early"}' });
    assert.equal(r.status, 409);

    // The agent accepts, types, and says X: the visitor receives it.
    assert.equal((await fetch(`${agent}/accept`, { method: 'POST' })).status, 200);
    assert.deepEqual((await poll()).map((m) => m.type), ['ChatEstablished']);
    assert.equal((await fetch(`${agent}/typing`, { method: 'POST' })).status, 200);
    r = await fetch(`${agent}/say`, { method: 'POST', body: JSON.stringify({ text: 'Hello, how can I help?' }) });
    assert.equal(r.status, 200);
    const said = await poll();
    assert.deepEqual(said.map((m) => m.type), ['AgentTyping', 'ChatMessage']);
    assert.equal(said[1].message.text, 'Hello, how can I help?');

    // The visitor answers Y: the admin API shows what the server received.
    assert.equal((await post('ChatMessage', { text: 'My order is late' })).status, 200);
    r = await fetch(agent);
    const detail = await r.json();
    assert.deepEqual(detail.visitor_messages, ['My order is late']);
    assert.deepEqual(detail.agent_messages, ['Hello, how can I help?']);

    // The agent ends the chat; the visitor's poll brings ChatEnded.
    assert.equal((await fetch(`${agent}/end`, { method: 'POST' })).status, 200);
    assert.deepEqual((await poll()).map((m) => m.type), ['ChatEnded']);

    r = await fetch(`${admin}/report`);
    const report = await r.json();
    assert.equal(report.sessions.length, 1);
    assert.equal(report.sessions[0].completed, true);
    assert.equal(report.sessions[0].end, 'ended by the agent (ChatEnded delivered)');
    assert.deepEqual(report.sessions[0].violations, []);

    // Reset forgets everything.
    assert.equal((await fetch(`${admin}/reset`, { method: 'POST' })).status, 200);
    assert.deepEqual(await (await fetch(`${admin}/sessions`)).json(), []);
  } finally {
    const { code } = await server.stop();
    assert.equal(code, 0);
  }
});
