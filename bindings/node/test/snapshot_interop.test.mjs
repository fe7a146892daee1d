// Snapshots cross the language boundary both ways: one written by Rust (serde_json of Session::snapshot,
// tests/boundary_schema.rs writes test/fixtures/rust_snapshot.json) resumes here, and one written here
// (test/fixtures/js_snapshot.json, compared with a fresh one; LIVEAGENT_UPDATE_FIXTURES=1 rewrites it) is
// resumed by tests/boundary_schema.rs in Rust.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { Pair, Session } from "../liveagent.mjs";
import { CONFIG } from "../test-support.mjs";

const fixture = (name) => new URL(`./fixtures/${name}`, import.meta.url);
/** The simulator's endpoint: where the snapshots' chats live. */
const SIM = { ...CONFIG, endpoint: "https://d.la1-c1-sim.salesforceliveagent.test" };

test("a snapshot written by Rust resumes in JavaScript", () => {
  const text = readFileSync(fixture("rust_snapshot.json"), "utf8");
  const { credentials, ack } = JSON.parse(text);
  const s = Session.resume(SIM, text, 0);
  const status = s.status();
  assert.equal(status.state, "chatting");
  assert.equal(status.agent.name, "Andy L.");
  assert.equal(status.sessionId, credentials.id);
  // The poll goes on where the Rust session left it, with the same key and token.
  const poll = s.drainOutputs(0).find((o) => o.type === "request");
  assert.equal(poll.kind, "messages");
  assert.match(poll.url, new RegExp(`[?&]ack=${ack}(&|$)`));
  assert.equal(poll.headers["x-liveagent-session-key"], credentials.key);
  assert.equal(poll.headers["x-liveagent-affinity"], credentials.affinity);
  // And it snapshots back to the same chat.
  assert.equal(JSON.parse(s.snapshot()).credentials.key, credentials.key);
});

test("a snapshot written by JavaScript is the committed fixture Rust resumes", () => {
  const pair = new Pair(CONFIG, { agent: "default" });
  pair.runUntilEvent("agentMessage");
  // A text typed but not yet sent: the resumed session must send it.
  pair.command({ type: "sendMessage", text: "sent after the restart" });
  const snapshot = pair.snapshot();
  const path = fixture("js_snapshot.json");
  if (process.env.LIVEAGENT_UPDATE_FIXTURES === "1") writeFileSync(path, snapshot + "\n");
  assert.equal(snapshot, readFileSync(path, "utf8").trim(), "the committed fixture is stale: rerun with LIVEAGENT_UPDATE_FIXTURES=1");
  const s = Session.resume(SIM, snapshot, 0);
  assert.equal(s.status().pendingCommands, 1);
});
