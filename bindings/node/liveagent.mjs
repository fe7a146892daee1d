// liveagent for JavaScript: the Rust session state machine (and its server simulator) compiled to one
// WebAssembly module, with a plain C ABI (JSON through linear memory). Works in Node 20+, Deno, Bun and
// browsers. The JSON forms are described in docs/boundary.md; the types in liveagent.d.ts.
//
//   import { init, Session, FetchDriver } from "./liveagent.mjs";
//   await init();                      // loads liveagent.wasm next to this file (or pass bytes, a URL, a Module)
//   const session = new Session({ endpoint, organizationId, deploymentId, buttonId }, performance.now());

/** Every refused call: `.code` is stable (`invalidConfig`, `invalidTime`, `unknownRequest`, ...). */
export class LiveAgentError extends Error {
  constructor({ code, message, reason }) {
    super(message);
    this.name = "LiveAgentError";
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} */
    this.reason = reason;
  }
}

let wasm = null;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

/** Loads the WebAssembly module once (later calls return at once). `source`: the .wasm bytes, a URL or
 * path to it, a `WebAssembly.Module`, or nothing for `liveagent.wasm` next to this file. */
export async function init(source) {
  if (wasm) return;
  let module;
  if (source instanceof WebAssembly.Module) {
    module = source;
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    module = await WebAssembly.compile(source);
  } else {
    const url = source === undefined ? new URL("./liveagent.wasm", import.meta.url) : new URL(source, import.meta.url);
    if (url.protocol === "file:") {
      // Node, Deno and Bun all provide node:fs; Node 20's fetch cannot read file: URLs.
      const { readFile } = await import("node:fs/promises");
      module = await WebAssembly.compile(await readFile(url));
    } else if (typeof WebAssembly.compileStreaming === "function") {
      module = await WebAssembly.compileStreaming(fetch(url));
    } else {
      module = await WebAssembly.compile(await (await fetch(url)).arrayBuffer());
    }
  }
  const instance = await WebAssembly.instantiate(module, {});
  wasm = instance.exports;
}

function exports() {
  if (!wasm) throw new LiveAgentError({ code: "notInitialised", message: "call `await init()` before using liveagent" });
  return wasm;
}

/** The JSON schema version this module speaks (docs/boundary.md). */
export function schemaVersion() {
  return exports().la_schema_version();
}

// ---- moving bytes ------------------------------------------------------------------------------------
//
// A call's arguments are written one after the other into the module's scratch buffer (reused from call to
// call: no allocation per argument; strings are encoded straight into it), and its result is read from the
// module's result buffer: JSON text, `length >= 0`, or an error's JSON, `-length`.

let memory = null;

/** The module's memory as bytes (a fresh view after the memory grew: the old one is detached then). */
function bytes() {
  if (memory === null || memory.byteLength === 0) memory = new Uint8Array(wasm.memory.buffer);
  return memory;
}

/** Where the arguments of the call being prepared are: pointer, length, pointer, length, ... */
const spans = [0, 0, 0, 0, 0, 0, 0, 0];

/** The bytes of `value` for a call (a `Uint8Array` or text), or null for none. */
function asBytes(value) {
  if (typeof value === "string" || value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value === undefined || value === null) return "";
  throw new TypeError(`expected a string or bytes, got ${typeof value}`);
}

/** Writes up to four arguments (text or bytes; null or undefined for none) into the scratch buffer, one
 * after the other: their spans are in `spans`. */
function stage(...values) {
  const w = exports();
  let room = 0;
  for (let i = 0; i < values.length; i++) {
    const v = (values[i] = asBytes(values[i]));
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    room += typeof v === "string" ? v.length * 3 : v.length;
  }
  const base = w.la_scratch(Math.max(room, 1));
  if (base === 0) throw new LiveAgentError({ code: "internal", message: `no memory for ${room} bytes of arguments` });
  const mem = bytes();
  let at = base;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let len;
    if (typeof v === "string") len = v.length === 0 ? 0 : encoder.encodeInto(v, mem.subarray(at, base + room)).written;
    else {
      mem.set(v, at);
      len = v.length;
    }
    spans[2 * i] = at;
    spans[2 * i + 1] = len;
    at += len;
  }
}

/** The text of the last result (`len` bytes). */
function resultText(len) {
  const at = wasm.la_result_ptr();
  return decoder.decode(bytes().subarray(at, at + len));
}

/** The error the last call stored (it returned `r < 0`). */
function failure(r) {
  if (r === -2147483648) return new LiveAgentError({ code: "internal", message: "the call failed re-entrantly" });
  return new LiveAgentError(JSON.parse(resultText(-r)));
}

/** The value a call returned (`r`: its result length), or throws its error. */
function result(r) {
  if (r < 0) throw failure(r);
  return JSON.parse(resultText(r));
}

/** A verdict a call returned as a number: "accepted" (0) or "stale" (1), or throws its error. */
function verdict(r) {
  if (r < 0) throw failure(r);
  return r === 0 ? "accepted" : "stale";
}

const json = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** Response headers as the module takes them: `[text, 0]` for `name NUL value NUL ...` (string pairs, as
 * fetch's `Headers` hold them: never a NUL in them, so no JSON to write or parse), `[json, 1]` for the
 * boundary's JSON (a string given as JSON, or anything else: the boundary says what is wrong with it). */
function headerArgs(headers) {
  if (headers === undefined || headers === null) return ["", 0];
  if (typeof headers === "string") return [headers, 1];
  const isObject = typeof headers.entries !== "function" && !Array.isArray(headers);
  const pairs = isObject ? Object.entries(headers) : Array.isArray(headers) ? headers : [...headers.entries()];
  let text = "";
  for (const pair of pairs) {
    const plain = Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && typeof pair[1] === "string";
    if (!plain || pair[0].includes("\0") || pair[1].includes("\0")) return [JSON.stringify(isObject ? headers : pairs), 1];
    text += pair[0] + "\0" + pair[1] + "\0";
  }
  return [text, 0];
}

const registry = new FinalizationRegistry(({ free, handle }) => wasm && wasm[free](handle));

// ---- Session -----------------------------------------------------------------------------------------

/** A visitor chat session (the Rust `Session` through `boundary::JsonSession`). Times are milliseconds on
 * your monotonic clock (`performance.now()`), or virtual. */
export class Session {
  #h;

  /** `config`: an object or its JSON (docs/boundary.md, "Config"). */
  constructor(config, nowMs, _handle) {
    if (_handle === undefined) stage(json(config));
    this.#h = _handle ?? result(exports().la_session_new(spans[0], spans[1], nowMs));
    registry.register(this, { free: "la_session_free", handle: this.#h }, this);
  }

  /** Resumes a chat from a snapshot (from `snapshot()` here, or a Rust `Session::snapshot` in serde JSON). */
  static resume(config, snapshot, nowMs) {
    stage(json(config), json(snapshot));
    return new Session(null, null, result(exports().la_session_resume(spans[0], spans[1], spans[2], spans[3], nowMs)));
  }

  /** The next output: `{type: "request" | "event" | "wait", ...}`. */
  pollOutput(nowMs) {
    return result(exports().la_session_poll_output(this.#h, nowMs));
  }

  /** Every output up to and including the next `wait` (one call across the boundary). */
  drainOutputs(nowMs) {
    return result(exports().la_session_drain_outputs(this.#h, nowMs));
  }

  /** When `handleTimeout` is next due (ms), or null once ended. */
  pollTimeout() {
    return result(exports().la_session_poll_timeout(this.#h));
  }

  /** The answer to request `id`: `"accepted"` or `"stale"`. `body`: bytes or text. */
  handleResponse(id, status, headers, body, nowMs) {
    const [text, isJson] = headerArgs(headers);
    stage(text, body);
    return verdict(exports().la_session_handle_response(this.#h, id, status, spans[0], spans[1], isJson, spans[2], spans[3], nowMs));
  }

  /** Request `id` failed: `kind` is `timeout`, `connectRefused`, `reset` or `other`. */
  handleTransportError(id, kind, nowMs) {
    stage(kind);
    return verdict(exports().la_session_handle_transport_error(this.#h, id, spans[0], spans[1], nowMs));
  }

  /** Tells the session the time. */
  handleTimeout(nowMs) {
    result(exports().la_session_handle_timeout(this.#h, nowMs));
  }

  /** Any command as an object: `{type: "sendMessage", text}`, ... Returns `{commandId}` or `{}`. */
  command(command) {
    stage(json(command));
    return result(exports().la_session_command(this.#h, spans[0], spans[1]));
  }

  /** Sends a text to the agent; returns its command id. `text` may also be UTF-8 bytes (bytes that are not
   * UTF-8 are refused with code `invalidUtf8`). */
  sendMessage(text) {
    stage(text);
    return result(exports().la_session_send_message(this.#h, spans[0], spans[1]));
  }

  setTyping(typing) {
    return this.command({ type: "setTyping", typing }).commandId;
  }
  sneakPeek(text) {
    return this.command({ type: "sneakPeek", text }).commandId;
  }
  sendCustomEvent(eventType, data) {
    return this.command({ type: "sendCustomEvent", eventType, data }).commandId;
  }
  reportSensitiveDataRules(rules) {
    return this.command({ type: "reportSensitiveDataRules", rules }).commandId;
  }
  sendRichMessage(actions) {
    return this.command({ type: "sendRichMessage", actions }).commandId;
  }
  end() {
    this.command({ type: "end" });
  }
  acceptSwitch(offer, nowMs) {
    this.command({ type: "acceptSwitch", offer, nowMs });
  }
  refuseSwitch(offer) {
    this.command({ type: "refuseSwitch", offer });
  }

  /** The upload POST for a FileTransfer message's payload: `{method, url, headers, body: Uint8Array}`. */
  uploadRequest(transfer, filename, contentType, file) {
    stage(json(transfer), filename, contentType, file);
    const r = result(exports().la_session_upload_request(this.#h, ...spans));
    const bin = atob(r.bodyBase64);
    const body = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) body[i] = bin.charCodeAt(i);
    return { method: r.method, url: r.url, headers: r.headers, body };
  }

  /** `{state, reconnecting, agentTyping, agent, sessionId, endpoint, pendingCommands, pollTimeoutMs, endReason}`. */
  status() {
    return result(exports().la_session_status(this.#h));
  }

  /** The durable state as JSON text. Holds the session key and affinity token: store it like a password. */
  snapshot() {
    return result(exports().la_session_snapshot(this.#h));
  }

  /** Frees the session now (otherwise when it is garbage-collected). */
  free() {
    if (this.#h) {
      registry.unregister(this);
      wasm.la_session_free(this.#h);
      this.#h = 0;
    }
  }
}

// ---- Pair: the simulator on virtual time -------------------------------------------------------------

/** A session against the simulated server on a virtual clock from 0: a whole chat in milliseconds. */
export class Pair {
  #h;

  /** `sessionConfig` as for `Session` (its endpoint is replaced by the simulator's); `simConfig` as in
   * docs/boundary.md ("Simulator"), e.g. `{agent: "default", faults: [...]}`. */
  constructor(sessionConfig, simConfig = {}) {
    stage(json(sessionConfig), json(simConfig));
    this.#h = result(exports().la_pair_new(spans[0], spans[1], spans[2], spans[3]));
    registry.register(this, { free: "la_pair_free", handle: this.#h }, this);
  }

  #call(fn, ...args) {
    return result(exports()[fn](this.#h, ...args));
  }

  /** Sends a visitor text (judged by `checkDelivery`); returns its command id. */
  sendMessage(text) {
    stage(text);
    return this.#call("la_pair_send_message", spans[0], spans[1]);
  }
  end() {
    this.#call("la_pair_end");
  }
  command(command) {
    stage(json(command));
    return this.#call("la_pair_command", spans[0], spans[1]);
  }
  /** Runs until the chat is over. */
  run() {
    this.#call("la_pair_run");
  }
  /** Runs until an event of this type (e.g. `"agentMessage"`); returns it, or null if the chat ended first. */
  runUntilEvent(type) {
    stage(type);
    return this.#call("la_pair_run_until_event", spans[0], spans[1]);
  }
  /** Runs until this much virtual time (ms) has passed since the start. */
  runUntilElapsed(ms) {
    this.#call("la_pair_run_until_elapsed", ms);
  }
  /** Virtual ms since the start. */
  elapsedMs() {
    return this.#call("la_pair_elapsed");
  }
  /** `[{atMs, event}]`. */
  events() {
    return this.#call("la_pair_events");
  }
  agentTexts() {
    return this.#call("la_pair_agent_texts");
  }
  /** The transcript (keys and tokens shown as `<key>`, `<affinity>`). */
  transcript() {
    return this.#call("la_pair_transcript");
  }
  /** Judged from the simulator's record: `{clean, sent, acceptedByServer, ..., discrepancies, text}`. */
  checkDelivery() {
    return this.#call("la_pair_check_delivery");
  }
  snapshot() {
    return this.#call("la_pair_snapshot");
  }
  free() {
    if (this.#h) {
      registry.unregister(this);
      wasm.la_pair_free(this.#h);
      this.#h = 0;
    }
  }
}

// ---- FetchDriver: a ready driver on the platform's fetch --------------------------------------------

/** Which transport error a failed `fetch` was. */
function transportKind(err) {
  const name = err?.name;
  if (name === "TimeoutError" || name === "AbortError") return "timeout";
  const code = err?.cause?.code ?? err?.code;
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EHOSTUNREACH") return "connectRefused";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE") return "reset";
  return "other";
}

/** Drives a `Session` with `fetch`: the long poll and one POST in flight together, each `fetch` aborted at
 * its deadline (`AbortSignal.timeout`), redirects not followed (`redirect: "manual"`: a 3xx is handed to
 * the session, which ends the chat). Events go to `onEvent(event, driver)`; commands given through the
 * driver (or on `driver.session` followed by `driver.wake()`) are sent at once. */
export class FetchDriver {
  #wake = null;
  #dirty = false;
  #controllers = new Set();

  /** @param {Session} session */
  constructor(session, { fetch: fetchFn = globalThis.fetch.bind(globalThis), now = () => performance.now(), onEvent = () => {} } = {}) {
    this.session = session;
    this.fetch = fetchFn;
    this.now = now;
    this.onEvent = onEvent;
    /** The end reason, once the chat is over. */
    this.endReason = null;
  }

  /** Wakes the loop after a command given on `session` directly. */
  wake() {
    this.#dirty = true;
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  sendMessage(text) {
    const id = this.session.sendMessage(text);
    this.wake();
    return id;
  }

  setTyping(typing) {
    const id = this.session.setTyping(typing);
    this.wake();
    return id;
  }

  end() {
    this.session.end();
    this.wake();
  }

  #send(req) {
    const controller = new AbortController();
    this.#controllers.add(controller);
    // A little past the session's deadline: the session itself counts the request failed at its deadline.
    const timeout = Math.ceil(Math.max(1, req.deadlineMs - this.now())) + 50;
    const signal = AbortSignal.any ? AbortSignal.any([controller.signal, AbortSignal.timeout(timeout)]) : controller.signal;
    const init = { method: req.method, headers: req.headers, redirect: "manual", signal };
    if (req.body !== null) init.body = req.body;
    return (async () => {
      try {
        const res = await this.fetch(req.url, init);
        const body = new Uint8Array(await res.arrayBuffer());
        // A browser hides a manual redirect's status (an opaque redirect, status 0): it is a redirect still.
        const status = res.type === "opaqueredirect" ? 302 : res.status;
        if (!controller.signal.aborted) this.session.handleResponse(req.id, status, res.headers, body, this.now());
      } catch (err) {
        if (!controller.signal.aborted) this.session.handleTransportError(req.id, transportKind(err), this.now());
      } finally {
        this.#controllers.delete(controller);
        this.wake();
      }
    })();
  }

  /** Runs the chat to its end; resolves to the end reason. */
  async run() {
    for (;;) {
      let until;
      this.#dirty = false;
      for (const o of this.session.drainOutputs(this.now())) {
        if (o.type === "request") this.#send(o);
        else if (o.type === "event") {
          if (o.event.type === "ended") this.endReason = o.event.reason;
          this.onEvent(o.event, this);
        } else until = o.untilMs;
      }
      if (until === null) {
        for (const c of this.#controllers) c.abort();
        return this.endReason;
      }
      // Something happened while dispatching (an event handler gave a command, an answer arrived): drain again.
      if (!this.#dirty) await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - this.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
      this.session.handleTimeout(this.now());
    }
  }
}
