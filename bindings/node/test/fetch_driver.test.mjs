// The same chat as sim_chat.test.mjs, through FetchDriver (the platform's fetch) against the simulator's HTTP
// server (liveagent-sim-server) over loopback, in real time: the long poll and a POST in flight together, the 503 handover and the
// 409 answered by a real server process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FetchDriver, Session } from "../liveagent.mjs";
import { CONFIG, VISITOR_TEXTS, startSimServer, writeJson } from "../test-support.mjs";

/** The scenario of HANDOVER_AND_409 in the server's own scenario format (a quicker agent: real time). */
const SCENARIO = {
  agent: {
    steps: [
      { after: { secs: 0, nanos: 200_000_000 }, action: "Accept" },
      { after: { secs: 0, nanos: 0 }, action: { Say: { text: "Hello, how can I help you?" } } },
      { after: { secs: 0, nanos: 0 }, action: "EchoVisitor" },
    ],
  },
  faults: [
    { session: 0, at: { Poll: 4 }, kind: "Handover" },
    { session: 0, at: { Post: 3 }, kind: { SequenceDrift: 2 } },
  ],
  poll_hold_ms: 1000,
};

test("a whole chat through the fetch driver against the simulator's HTTP server", { timeout: 660_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "liveagent-node-"));
  const server = await startSimServer(dir, ["--scenario", await writeJson(dir, "scenario.json", SCENARIO)]);
  try {
    const session = new Session({ ...CONFIG, endpoint: `http://127.0.0.1:${server.port}` }, performance.now());
    const events = [];
    let next = 0;
    const driver = new FetchDriver(session, {
      onEvent(event, d) {
        events.push(event);
        if (event.type !== "agentMessage") return;
        if (next < VISITOR_TEXTS.length) d.sendMessage(VISITOR_TEXTS[next++]);
        else d.end();
      },
    });
    const reason = await driver.run();
    assert.equal(reason.type, "visitorEnded", JSON.stringify(reason));
    const said = events.filter((e) => e.type === "agentMessage").map((e) => e.text);
    assert.deepEqual(said, ["Hello, how can I help you?", ...VISITOR_TEXTS.map((t) => `echo: ${t}`)]);
    const delivered = events.filter((e) => e.type === "delivered").flatMap((e) => e.commands);
    assert.deepEqual(delivered.slice(0, 2), [1, 2], "both texts delivered");
    assert.ok(events.some((e) => e.type === "sessionRestored"), "the handover restored the session");
    assert.equal(session.status().state, "ended");

    const { code, transcript } = await server.stop();
    assert.equal(code, 0);
    assert.match(transcript, /503/, "the server answered 503");
    assert.match(transcript, /409/, "the server answered 409");
    for (const text of VISITOR_TEXTS) {
      assert.equal(transcript.split(JSON.stringify(text).slice(1, -1)).length > 1, true, `${text} reached the server`);
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
