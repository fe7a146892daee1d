#!/usr/bin/env node
// The cost of the JavaScript boundary: the steady-state poll cycles of an established chat through the
// WebAssembly module, next to the same cycles in Rust (`cargo bench --bench poll_cycle`, run by this script
// first, in the same run) and to `JSON.parse` of the same bodies (the least per-poll work a pure-JavaScript
// client does). A benchmark, not a test:
//
//   bindings/node/build.sh && node bindings/node/bench/poll_cycle.mjs          # --no-rust: skip cargo bench
//   node bindings/node/bench/poll_cycle.mjs --module=/elsewhere/liveagent.mjs   # another build (before/after)
//
// Cycles, as in benches/poll_cycle.rs (canned answers, no server, no I/O):
//   poll_204:              a 204 handled, the next poll request produced, outputs drained to the wait;
//   poll_200_chat_message: a 200 with one agent ChatMessage handled (its `sequence` rewritten each time), the
//                          next poll produced, the agentMessage event drained;
//   poll_200_18_messages:  the same with the 18-message body of tests/fixtures/peers/yalutec-... (queue,
//                          established, typing, chat), the largest captured body.
// Each cycle twice: `pollOutput` until a wait (one call and one object per output), and `drainOutputs` (one
// call for all), as FetchDriver does.
import { execFileSync } from "node:child_process";
import { readFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const moduleArg = process.argv.find((a) => a.startsWith("--module="));
const MODULE = moduleArg ? pathToFileURL(moduleArg.slice("--module=".length)).href : new URL("../liveagent.mjs", import.meta.url).href;
const { init, Session } = await import(MODULE);
await init();

const CONFIG = {
  endpoint: "https://d.la4-c1-ph2.salesforceliveagent.com/chat/rest/",
  organizationId: "00DD0000000JVXs",
  deploymentId: "572D000000000J6",
  buttonId: "573D000000000OC",
  visitor: { name: "Jon A." },
  seed: 7,
  messageSpacingMs: 0,
  // As in benches/support: thousands of cycles at one instant are the work measured, not a flood the
  // request-rate ceiling should hold back.
  limits: { maxRequestsPerSecond: 2 ** 32 - 1, requestBurst: 2 ** 32 - 1 },
};
const SESSION_ID_BODY =
  '{"clientPollTimeout":40,"key":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e!1570039675081!' +
  'TxbTUjf1hP8Vns6w0h3zjLhAp3U6HYJvr+M1pbrY3WE=","affinityToken":"878a1fa0",' +
  '"id":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e"}';
const ESTABLISHED_BODY =
  '{"messages":[{"type":"ChatRequestSuccess","message":{"queuePosition":1,"estimatedWaitTime":-1,' +
  '"geoLocation":{"countryCode":"US","city":"Ashburn"},"visitorId":"17878b72-61d5-47ae-be39-0a48951a0e4d"}},' +
  '{"type":"ChatEstablished","message":{"name":"Everardo G","userId":"0053g000000usWa","items":[],' +
  '"sneakPeekEnabled":false,"chasitorIdleTimeout":{"isEnabled":false}}}],"sequence":1,"offset":1574190116}';
/** The Rust bench's one-message body (benches/support: message_json(0)). */
const CHAT_MESSAGE = {
  type: "ChatMessage",
  message: {
    text: "Thanks for waiting, this is reply number 0 to your question.",
    name: "Everardo G",
    schedule: { responseDelayMilliseconds: 0.0 },
    agentId: "0053g000000usWa",
  },
};
const EIGHTEEN = JSON.parse(
  readFileSync(`${ROOT}/tests/fixtures/peers/yalutec-sales-force__messages-200-queue-established-typing-chat.json`, "utf8"),
).messages;
if (EIGHTEEN.length !== 18) throw new Error("the 18-message body changed");

const encoder = new TextEncoder();
/** Iterations before a callgrind measurement: V8 has compiled the hot code by then. */
const WARM_UP = 20000;

function drainByOne(s, now) {
  const outs = [];
  for (;;) {
    const o = s.pollOutput(now);
    outs.push(o);
    if (o.type === "wait") return outs;
  }
}

const thePoll = (outs) => outs.filter((o) => o.type === "request" && o.kind === "messages").at(-1).id;

/** A chatting session with its long poll in flight (the Rust bench's `established`). */
function established() {
  const s = new Session(CONFIG, 0);
  const sid = s.drainOutputs(0).find((o) => o.type === "request").id;
  s.handleResponse(sid, 200, null, SESSION_ID_BODY, 0);
  const init = s.drainOutputs(0).find((o) => o.type === "request" && o.kind === "chasitorInit").id;
  s.handleResponse(init, 200, null, "", 0);
  let poll = thePoll(s.drainOutputs(0));
  s.handleResponse(poll, 200, null, ESTABLISHED_BODY, 0);
  poll = thePoll(s.drainOutputs(0));
  if (s.status().state !== "chatting") throw new Error("not chatting");
  return [s, poll];
}

/** The body with a given `sequence`, as the server numbers consecutive batches. */
function sequenced(messages, offset = 1574190116) {
  const head = JSON.stringify({ messages }).slice(0, -1);
  return (seq) => `${head},"sequence":${seq},"offset":${offset}}`;
}

function cycle204(batched) {
  let [s, poll] = established();
  let t = 0;
  return (n) => {
    for (let i = 0; i < n; i++) {
      t += 1000; // each 204 a second after its poll, as in the Rust bench
      s.handleResponse(poll, 204, null, null, t);
      const outs = batched ? s.drainOutputs(t) : drainByOne(s, t);
      poll = outs[0].id;
    }
  };
}

function cycle200(messages, batched) {
  let [s, poll] = established();
  const body = sequenced(messages);
  let seq = 1;
  return (n) => {
    for (let i = 0; i < n; i++) {
      seq += messages.length;
      s.handleResponse(poll, 200, null, encoder.encode(body(seq)), 0);
      const outs = batched ? s.drainOutputs(0) : drainByOne(s, 0);
      poll = outs.find((o) => o.type === "request").id;
    }
  };
}

function parse(text) {
  let sink = 0;
  return (n) => {
    for (let i = 0; i < n; i++) sink += JSON.parse(text).messages.length;
    return sink;
  };
}

/** Nanoseconds per iteration: the fastest of `repeats` runs of `n` (after one warm-up run). The fastest, not
 * the median: on a shared machine every disturbance only adds time. */
function measure(run, n, repeats = 9) {
  run(n);
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    run(n);
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  return Math.min(...times);
}

/** The Rust cycles' criterion medians (ns), from `cargo bench --bench poll_cycle` run now. */
function rustCycles() {
  const out = execFileSync("cargo", ["bench", "--bench", "poll_cycle", "--", "poll_cycle/poll_"], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 26,
  }).replace(/\n\s+time:/g, " time:");
  const unit = { ns: 1, "µs": 1e3, us: 1e3, ms: 1e6 };
  const found = {};
  for (const m of out.matchAll(/(poll_cycle\/\S+)\s+time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]/g)) {
    found[m[1]] = Number(m[4]) * unit[m[5]];
  }
  return found;
}

const one = sequenced([CHAT_MESSAGE])(2);
const eighteen = sequenced(EIGHTEEN)(19);
/** Every workload by name: a factory (the setup) of a function running N iterations. */
const WORKLOADS = {
  poll_204: () => cycle204(false),
  poll_204_drain: () => cycle204(true),
  poll_200_chat_message: () => cycle200([CHAT_MESSAGE], false),
  poll_200_chat_message_drain: () => cycle200([CHAT_MESSAGE], true),
  poll_200_18_messages: () => cycle200(EIGHTEEN, false),
  poll_200_18_messages_drain: () => cycle200(EIGHTEEN, true),
  json_parse_chat_message: () => parse(one),
  json_parse_18_messages: () => parse(eighteen),
};

const oneArg = process.argv.find((a) => a.startsWith("--one="));
if (oneArg) {
  // One workload for callgrind: setup, a warm-up long enough for V8 to compile the hot code, then N.
  const [name, n] = oneArg.slice("--one=".length).split(":");
  const run = WORKLOADS[name]();
  run(name.includes("18") ? WARM_UP / 5 : WARM_UP);
  run(Number(n));
  process.exit(0);
}

/** The instruction total of one callgrind run of this script with `args`. */
function callgrindIr(args) {
  const out = `${tmpdir()}/liveagent-node-cg.${process.pid}.${Math.random().toString(36).slice(2)}`;
  execFileSync(
    "valgrind",
    ["--tool=callgrind", `--callgrind-out-file=${out}`, process.execPath, "--single-threaded", fileURLToPath(import.meta.url), ...args],
    { stdio: "ignore" },
  );
  const text = readFileSync(out, "utf8");
  unlinkSync(out);
  const m = text.match(/^(?:summary|totals):\s*(\d+)/m);
  if (!m) throw new Error("no callgrind total");
  return Number(m[1]);
}

if (process.argv.includes("--callgrind")) {
  // Instructions per iteration, (Ir(warm-up + N) - Ir(warm-up)) / N: setup, start-up, compilation of the hot
  // code and the warm-up excluded; repeatable on a loaded machine, unlike time.
  const mod = moduleArg ? [moduleArg] : [];
  console.log(`instructions per iteration (callgrind, node --single-threaded, ${MODULE})`);
  for (const name of Object.keys(WORKLOADS)) {
    const n = name.includes("18") ? 3000 : 5000;
    const ir = (callgrindIr([...mod, `--one=${name}:${n}`]) - callgrindIr([...mod, `--one=${name}:0`])) / n;
    console.log(`${name.padEnd(30)} ${Math.round(ir).toLocaleString("en-US").padStart(10)}`);
  }
  process.exit(0);
}

const rust = process.argv.includes("--no-rust") ? {} : rustCycles();
const N = 5000;
const rows = [
  ["poll_204", measure(cycle204(false), N), measure(cycle204(true), N), rust["poll_cycle/poll_204"], null],
  [
    "poll_200_chat_message",
    measure(cycle200([CHAT_MESSAGE], false), N),
    measure(cycle200([CHAT_MESSAGE], true), N),
    rust["poll_cycle/poll_200_chat_message"],
    measure(parse(one), N),
  ],
  [
    "poll_200_18_messages",
    measure(cycle200(EIGHTEEN, false), N / 5),
    measure(cycle200(EIGHTEEN, true), N / 5),
    undefined,
    measure(parse(eighteen), N / 5),
  ],
];
const us = (ns) => (ns === undefined || ns === null ? "–" : `${(ns / 1000).toFixed(2)} µs`);
const x = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : "–");
console.log(`node ${process.version}; ${MODULE}; fastest of 9 runs; body sizes ${one.length} and ${eighteen.length} bytes`);
console.log("| cycle | pollOutput until wait | drainOutputs | Rust | × Rust (drain) | JSON.parse of the body | × JSON.parse (drain) |");
console.log("|---|---|---|---|---|---|---|");
for (const [name, byOne, drain, r, p] of rows) {
  console.log(`| ${name} | ${us(byOne)} | ${us(drain)} | ${us(r)} | ${x(drain, r)} | ${us(p)} | ${x(drain, p)} |`);
}
