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

/** Copies text or bytes into wasm memory: [ptr, len]. */
function put(value) {
  const w = exports();
  let bytes;
  if (typeof value === "string") bytes = encoder.encode(value);
  else if (value instanceof Uint8Array) bytes = value;
  else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
  else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  else if (value === undefined || value === null) bytes = new Uint8Array(0);
  else throw new TypeError(`expected a string or bytes, got ${typeof value}`);
  const len = bytes.length;
  if (len === 0) return [0, 0];
  const ptr = w.la_alloc(len);
  new Uint8Array(w.memory.buffer, ptr, len).set(bytes);
  return [ptr, len];
}

function free(args) {
  const w = wasm;
  for (let i = 0; i < args.length; i += 2) if (args[i + 1]) w.la_free(args[i], args[i + 1]);
}

/** Reads the result the last call left (its length is what the call returned) as `{ok}` or throws. */
function result(len) {
  const w = wasm;
  const text = decoder.decode(new Uint8Array(w.memory.buffer, w.la_result_ptr(), len));
  const r = JSON.parse(text);
  if (r.error) throw new LiveAgentError(r.error);
  return r.ok;
}

/** Calls `fn` with (ptr, len) pairs for each of `values` inserted at the `$` placeholders of `args`. */
function call(fn, args, values) {
  const w = exports();
  const mem = [];
  const full = [];
  let v = 0;
  try {
    for (const a of args) {
      if (a === put) {
        const [p, l] = put(values[v++]);
        mem.push(p, l);
        full.push(p, l);
      } else full.push(a);
    }
    return result(w[fn](...full));
  } finally {
    free(mem);
  }
}

const json = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** Response headers as `[name, value]` pairs (a `Headers`, an object, pairs, or nothing). */
function headersJson(headers) {
  if (headers === undefined || headers === null) return "";
  if (typeof headers === "string") return headers;
  if (typeof headers.entries === "function" && !Array.isArray(headers)) return JSON.stringify([...headers.entries()]);
  return JSON.stringify(headers);
}

const registry = new FinalizationRegistry(({ free, handle }) => wasm && wasm[free](handle));

// ---- Session -----------------------------------------------------------------------------------------

/** A visitor chat session (the Rust `Session` through `boundary::JsonSession`). Times are milliseconds on
 * your monotonic clock (`performance.now()`), or virtual. */
export class Session {
  #h;

  /** `config`: an object or its JSON (docs/boundary.md, "Config"). */
  constructor(config, nowMs, _handle) {
    this.#h = _handle ?? call("la_session_new", [put, nowMs], [json(config)]);
    registry.register(this, { free: "la_session_free", handle: this.#h }, this);
  }

  /** Resumes a chat from a snapshot (from `snapshot()` here, or a Rust `Session::snapshot` in serde JSON). */
  static resume(config, snapshot, nowMs) {
    return new Session(null, null, call("la_session_resume", [put, put, nowMs], [json(config), json(snapshot)]));
  }

  #call(fn, args = [], values = []) {
    return call(fn, [this.#h, ...args], values);
  }

  /** The next output: `{type: "request" | "event" | "wait", ...}`. */
  pollOutput(nowMs) {
    return this.#call("la_session_poll_output", [nowMs]);
  }

  /** Every output up to and including the next `wait` (one call across the boundary). */
  drainOutputs(nowMs) {
    return this.#call("la_session_drain_outputs", [nowMs]);
  }

  /** When `handleTimeout` is next due (ms), or null once ended. */
  pollTimeout() {
    return this.#call("la_session_poll_timeout");
  }

  /** The answer to request `id`: `"accepted"` or `"stale"`. `body`: bytes or text. */
  handleResponse(id, status, headers, body, nowMs) {
    return this.#call("la_session_handle_response", [id, status, put, put, nowMs], [headersJson(headers), body]);
  }

  /** Request `id` failed: `kind` is `timeout`, `connectRefused`, `reset` or `other`. */
  handleTransportError(id, kind, nowMs) {
    return this.#call("la_session_handle_transport_error", [id, put, nowMs], [kind]);
  }

  /** Tells the session the time. */
  handleTimeout(nowMs) {
    this.#call("la_session_handle_timeout", [nowMs]);
  }

  /** Any command as an object: `{type: "sendMessage", text}`, ... Returns `{commandId}` or `{}`. */
  command(command) {
    return this.#call("la_session_command", [put], [json(command)]);
  }

  /** Sends a text to the agent; returns its command id. `text` may also be UTF-8 bytes (bytes that are not
   * UTF-8 are refused with code `invalidUtf8`). */
  sendMessage(text) {
    return this.#call("la_session_send_message", [put], [text]);
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
    const r = this.#call("la_session_upload_request", [put, put, put, put], [json(transfer), filename, contentType, file]);
    const bin = atob(r.bodyBase64);
    const body = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) body[i] = bin.charCodeAt(i);
    return { method: r.method, url: r.url, headers: r.headers, body };
  }

  /** `{state, reconnecting, agentTyping, agent, sessionId, endpoint, pendingCommands, pollTimeoutMs, endReason}`. */
  status() {
    return this.#call("la_session_status");
  }

  /** The durable state as JSON text. Holds the session key and affinity token: store it like a password. */
  snapshot() {
    return this.#call("la_session_snapshot");
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
    this.#h = call("la_pair_new", [put, put], [json(sessionConfig), json(simConfig)]);
    registry.register(this, { free: "la_pair_free", handle: this.#h }, this);
  }

  #call(fn, args = [], values = []) {
    return call(fn, [this.#h, ...args], values);
  }

  /** Sends a visitor text (judged by `checkDelivery`); returns its command id. */
  sendMessage(text) {
    return this.#call("la_pair_send_message", [put], [text]);
  }
  end() {
    this.#call("la_pair_end");
  }
  command(command) {
    return this.#call("la_pair_command", [put], [json(command)]);
  }
  /** Runs until the chat is over. */
  run() {
    this.#call("la_pair_run");
  }
  /** Runs until an event of this type (e.g. `"agentMessage"`); returns it, or null if the chat ended first. */
  runUntilEvent(type) {
    return this.#call("la_pair_run_until_event", [put], [type]);
  }
  /** Runs until this much virtual time (ms) has passed since the start. */
  runUntilElapsed(ms) {
    this.#call("la_pair_run_until_elapsed", [ms]);
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
