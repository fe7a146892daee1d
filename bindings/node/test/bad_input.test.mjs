// Bad input across the boundary: each a LiveAgentError with a stable code and a clear message, never a
// WebAssembly trap (a RuntimeError), and the session goes on as if the call had not been made.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveAgentError, Pair, Session, schemaVersion } from "../liveagent.mjs";
import { CONFIG } from "../test-support.mjs";

/** Asserts `fn` throws a LiveAgentError with this code and a message matching `message`. */
function refused(fn, code, message) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof LiveAgentError, `a LiveAgentError, not ${e?.constructor?.name}: ${e}`);
    assert.ok(e instanceof Error);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** A session whose SessionId request (id 1) is in flight. */
function started() {
  const s = new Session(CONFIG, 0);
  const [first] = s.drainOutputs(0);
  assert.equal(first.kind, "sessionId");
  return s;
}

test("the schema version", () => {
  assert.equal(schemaVersion(), 1);
});

test("malformed configuration JSON, missing and mistyped fields", () => {
  refused(() => new Session("{", 0), "invalidConfig", /the configuration is not valid JSON/);
  refused(() => new Session("[]", 0), "invalidConfig", /must be a JSON object, not an array/);
  refused(() => new Session({ ...CONFIG, endpoint: undefined }, 0), "invalidConfig", /field `endpoint`: missing/);
  refused(() => new Session({ ...CONFIG, retry: { maxAttempts: "x" } }, 0), "invalidConfig", /field `retry.maxAttempts`: invalid type/);
  refused(() => new Session({ ...CONFIG, requestTimeoutMS: 5 }, 0), "invalidConfig", /field `requestTimeoutMS`: unknown field/);
  refused(() => new Session({ ...CONFIG, endpoint: "ftp://x" }, 0), "invalidConfig", /field `endpoint`: invalid endpoint/);
  refused(() => new Pair(CONFIG, { agent: "busy" }), "simulation", /field `agent`: unknown script/);
});

test("NaN, negative, infinite and huge timestamps", () => {
  const s = started();
  for (const t of [NaN, -1, -0.5, Infinity, -Infinity, 1e300, 2 ** 53 + 2 ** 12, undefined]) {
    refused(() => s.pollOutput(t), "invalidTime", /nowMs must be a finite, non-negative number of milliseconds, at most 2\^53; got/);
    refused(() => s.handleTimeout(t), "invalidTime");
    refused(() => s.handleResponse(1, 200, {}, "", t), "invalidTime");
    refused(() => new Session(CONFIG, t), "invalidTime");
  }
  refused(() => s.pollOutput(NaN), "invalidTime", /got NaN$/);
  refused(() => s.pollOutput(Infinity), "invalidTime", /got Infinity$/);
  refused(() => s.pollOutput(1e300), "invalidTime", /got 1e\+300$/);
  // Nothing changed: request 1 is still waiting for its answer.
  assert.deepEqual(s.drainOutputs(1), [{ type: "wait", untilMs: 30000 }]);
  assert.equal(s.status().state, "connecting");
});

test("unknown request ids, bad statuses, headers and transport errors", () => {
  const s = started();
  refused(() => s.handleResponse(2, 200, {}, "", 1), "unknownRequest", /request #2 was never issued by this session/);
  refused(() => s.handleResponse(-1, 200, {}, "", 1), "unknownRequest");
  refused(() => s.handleResponse(1.5, 200, {}, "", 1), "unknownRequest");
  refused(() => s.handleResponse(NaN, 200, {}, "", 1), "unknownRequest");
  refused(() => s.handleTransportError(7, "timeout", 1), "unknownRequest");
  refused(() => s.handleResponse(1, 42, {}, "", 1), "invalidArgument", /status 42 is not an HTTP status/);
  refused(() => s.handleResponse(1, 70000, {}, "", 1), "invalidArgument", /HTTP status/);
  refused(() => s.handleResponse(1, 200, { "bad name": "x" }, "", 1), "invalidArgument", /header name "bad name" is not valid/);
  refused(() => s.handleResponse(1, 200, "{", "", 1), "invalidArgument", /headers are not valid JSON/);
  refused(() => s.handleTransportError(1, "exploded", 1), "invalidArgument", /not one of timeout, connectRefused, reset, other/);
  refused(() => s.command({ type: "dance" }), "invalidArgument", /unknown command type "dance"/);
  refused(() => s.command({ type: "end", now: true }), "invalidArgument", /field `now`: unknown field/);
  assert.equal(s.status().state, "connecting", "the malformed `end` changed nothing");
  // Request 1 still takes its answer, given as a Headers object.
  const answer = '{"id":"sid","key":"KEY!1","affinityToken":"AFF1","clientPollTimeout":40}';
  assert.equal(s.handleResponse(1, 200, new Headers({ "content-type": "application/json" }), answer, 2), "accepted");
  assert.equal(s.handleResponse(1, 200, {}, answer, 2), "stale", "a second answer is stale, not an error");
});

test("text that is not UTF-8 is refused; a body that is not UTF-8 is a failed answer, retried", () => {
  const s = started();
  refused(() => s.sendMessage(new Uint8Array([0x68, 0x69, 0xff])), "invalidUtf8", /the text is not valid UTF-8 \(at byte 2\)/);
  s.handleResponse(1, 200, {}, '{"id":"sid","key":"KEY!1","affinityToken":"AFF1","clientPollTimeout":40}', 1);
  const init = s.drainOutputs(1).find((o) => o.type === "request");
  assert.equal(init.kind, "chasitorInit");
  s.handleResponse(init.id, 200, {}, "", 2);
  const poll = s.drainOutputs(2).find((o) => o.type === "request");
  assert.equal(poll.kind, "messages");
  assert.equal(s.handleResponse(poll.id, 200, {}, new Uint8Array([0xff, 0xfe, 0x00]), 3), "accepted");
  const retrying = s.drainOutputs(3).find((o) => o.type === "event").event;
  assert.equal(retrying.type, "retrying");
  assert.equal(retrying.cause.type, "decode");
});

test("calls after the end", () => {
  const s = new Session(CONFIG, 0);
  s.end();
  for (const call of [() => s.sendMessage("late"), () => s.setTyping(true), () => s.end(), () => s.sendCustomEvent("t", "d")]) {
    refused(call, "ended", /^the session has ended$/);
  }
  refused(() => s.acceptSwitch(1, 1), "command", /no server switch is waiting/);
  refused(() => s.acceptSwitch(undefined, 1), "invalidArgument", /field `offer`: missing/);
  const outputs = s.drainOutputs(1);
  assert.deepEqual(outputs.map((o) => o.type), ["event", "wait"]);
  assert.equal(outputs[0].event.reason.type, "visitorEnded");
  assert.equal(outputs[1].untilMs, null);
  assert.equal(s.pollTimeout(), null);
  s.free();
  refused(() => s.pollOutput(1), "invalidArgument", /freed/);
  s.free(); // twice is harmless
});

test("resuming a snapshot that is not one", () => {
  refused(() => Session.resume(CONFIG, "{", 0), "invalidSnapshot", /is not a session snapshot's JSON/);
  refused(() => Session.resume(CONFIG, "[]", 0), "invalidSnapshot");
});

test("a pair that runs past its step bound is an error, not a hang", () => {
  const p = new Pair(CONFIG, { agent: "idle" });
  refused(() => p.run(), "simulation", /steps without reaching its goal/);
});
