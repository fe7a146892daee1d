// A whole chat on the in-wasm simulator, on virtual time: a 503 handover and a 409 on the way, every text
// delivered once (judged from the simulator's record), the transcript readable.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Pair } from "../liveagent.mjs";
import { CONFIG, HANDOVER_AND_409, VISITOR_TEXTS } from "../test-support.mjs";

test("a whole chat with a 503 handover and a 409 runs on the in-wasm simulator", () => {
  const pair = new Pair(CONFIG, HANDOVER_AND_409);
  const greeting = pair.runUntilEvent("agentMessage");
  assert.equal(greeting.text, "Hello, how can I help you?");
  for (const text of VISITOR_TEXTS) {
    pair.sendMessage(text);
    assert.equal(pair.runUntilEvent("agentMessage").text, `echo: ${text}`);
  }
  pair.end();
  pair.run();

  const report = pair.checkDelivery();
  assert.equal(report.clean, true, report.text);
  assert.equal(report.sent, 2);
  assert.equal(report.acceptedByServer, 2);
  assert.equal(report.ended.type, "visitorEnded");
  assert.deepEqual(pair.agentTexts(), ["Hello, how can I help you?", ...VISITOR_TEXTS.map((t) => `echo: ${t}`)]);

  const types = pair.events().map((e) => e.event.type);
  assert.ok(types.includes("sessionRestored"), "the handover restored the session");
  assert.equal(types.at(-1), "ended");
  const transcript = pair.transcript();
  assert.match(transcript, /← 503 /, "the server answered 503");
  assert.match(transcript, /← 409 \[#\d+\] Out of sync/, "the server answered 409");
  assert.match(transcript, /ReconnectSession/);
  assert.doesNotMatch(transcript, /key":"[^<]/, "keys are not in the transcript");
  // Virtual time: the chat took under 3 virtual seconds however long the machine took.
  assert.ok(pair.elapsedMs() < 3000, `${pair.elapsedMs()}`);
  pair.free();
});

test("the same chat is the same every time (deterministic)", () => {
  const run = () => {
    const pair = new Pair(CONFIG, HANDOVER_AND_409);
    pair.runUntilEvent("agentMessage");
    pair.sendMessage(VISITOR_TEXTS[0]);
    pair.end();
    pair.run();
    const t = pair.transcript();
    pair.free();
    return t;
  };
  assert.equal(run(), run());
});
