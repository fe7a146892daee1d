// Types of liveagent.mjs: the Rust session (liveagent::Session through liveagent::boundary::JsonSession)
// compiled to WebAssembly. The JSON forms are described in docs/boundary.md (schema version 1).

/** Every refused call. `code` is stable within a schema version. */
export class LiveAgentError extends Error {
  readonly name: "LiveAgentError";
  readonly code:
    | "invalidConfig"
    | "invalidSnapshot"
    | "invalidTime"
    | "invalidArgument"
    | "unknownRequest"
    | "invalidUtf8"
    | "ended"
    | "command"
    | "simulation"
    | "internal"
    | "notInitialised";
  /** The finer reason of a refused command (`textTooLong`, `queueFull`, ...) or snapshot (`alreadyEnded`, ...). */
  readonly reason?: string;
}

/** Loads the WebAssembly module (once). Default: `liveagent.wasm` next to liveagent.mjs. */
export function init(source?: BufferSource | WebAssembly.Module | URL | string): Promise<void>;

/** The JSON schema version this module speaks. */
export function schemaVersion(): number;

// ---- configuration -------------------------------------------------------------------------------------

export type RedirectPolicy = "sameTrustClass" | "askApplication" | "never" | { alsoAllow: string[] };

export interface Config {
  version?: 1;
  /** `https://host`, `https://host/chat/rest/` or a bare host; `http://` only for loopback testing. */
  endpoint: string;
  organizationId: string;
  deploymentId: string;
  buttonId: string;
  apiVersion?: number;
  agentId?: string | null;
  doFallback?: boolean | null;
  buttonOverrides?: string[];
  visitor?: { name?: string; userAgent?: string; language?: string; screenResolution?: string };
  /** The protocol's CustomDetail objects. */
  prechatDetails?: object[];
  /** The protocol's Entity objects. */
  prechatEntities?: object[];
  receiveQueueUpdates?: boolean;
  sendPollCounter?: boolean;
  retry?: { initialBackoffMs?: number; maxBackoffMs?: number; maxAttempts?: number; jitterPercent?: number };
  pollMarginMs?: number;
  defaultClientPollTimeoutMs?: number;
  requestTimeoutMs?: number;
  messageSpacingMs?: number;
  maxBatch?: number;
  maxQueuedCommands?: number;
  maxTextBytes?: number;
  enforceIdleTimeout?: boolean;
  limits?: {
    maxBodyBytes?: number;
    maxMessagesPerBatch?: number;
    maxUndrainedEvents?: number;
    maxUndrainedEventBytes?: number;
    maxCommandBytes?: number;
    maxCommandItems?: number;
  };
  redirect?: RedirectPolicy;
  /** Hosts (and their subdomains) a FileTransfer upload may go to, besides the defaults. */
  uploadHosts?: string[];
  seed?: number;
}

// ---- outputs -------------------------------------------------------------------------------------------

export type RequestKind =
  | "sessionId"
  | "chasitorInit"
  | "messages"
  | "chat"
  | "resyncState"
  | "reconnectSession"
  | "deleteSession";

/** A request to send now. Its `headers` (and the `url` of a `deleteSession`) carry the session key and
 * affinity token: never log them raw. */
export interface OutgoingRequest {
  type: "request";
  id: number;
  kind: RequestKind;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The body as text; null for none (a GET). */
  body: string | null;
  /** Only for a body that is not UTF-8 (never produced by the session). */
  bodyBase64?: string;
  /** Report the outcome by then, or the session counts the request as failed. */
  deadlineMs: number;
}

export type Output =
  | OutgoingRequest
  | { type: "event"; event: Event }
  /** Nothing to do until `untilMs` (then `handleTimeout`); null once the session has ended. */
  | { type: "wait"; untilMs: number | null };

export type RedirectRefusal = "disabled" | "notHttps" | "leavesLoopback" | "foreignHost" | "nonDefaultPort";
export type TransportErrorKind = "timeout" | "connectRefused" | "reset" | "other";

export type ServerError =
  | { type: "outOfSync"; expected: number; actual: number }
  | { type: "status"; status: number; text: string };

export type DecodeError =
  | { type: "tooLarge"; what: string; len: number; limit: number }
  | { type: "tooManyMessages"; what: string; len: number; limit: number }
  | { type: "eventsTooLarge"; what: string; bytes: number; limit: number }
  | { type: "unexpectedStatus"; what: string; status: number; snippet: string }
  | { type: "json"; what: string; status: number; line: number; column: number; reason: string; snippet: string }
  | { type: "invalid"; what: string; reason: string };

export type BuildError =
  | { type: "invalidEndpoint"; reason: string }
  | { type: "invalidHeader"; header: string }
  | { type: "invalidUri"; resource: string }
  | { type: "body"; reason: string };

export type Failure = { message: string } & (
  | { type: "transport"; error: TransportErrorKind }
  | { type: "noAnswer" }
  | { type: "server"; error: ServerError }
  | { type: "decode"; error: DecodeError }
);

export type EndReason = { normal: boolean; message: string } & (
  | { type: "visitorEnded"; attachedRecords: unknown }
  | { type: "agentEnded"; reason: string | null; attachedRecords: unknown }
  | { type: "requestFailed"; reason: string | null }
  | { type: "idleTimeout" }
  | { type: "sessionInvalid" | "conflict" | "rejected"; request: RequestKind; error: ServerError }
  | { type: "gaveUp"; request: RequestKind; attempts: number; last: Failure }
  | { type: "redirectRefused" | "switchUndecided"; target: string; reason: RedirectRefusal }
  | { type: "badSequence"; previous: number | null; sequence: number }
  | { type: "counterExhausted"; counter: string }
  | { type: "protocol"; request: RequestKind; error: BuildError }
  | { type: "missingCredentials"; request: RequestKind }
);

/** The protocol's AgentInfo. */
export interface AgentInfo {
  name?: string;
  userId?: string;
  sneakPeekEnabled?: boolean;
  chasitorIdleTimeout?: { isEnabled?: boolean; warningTime?: number; timeout?: number };
  items?: object[];
}

export type Event =
  | { type: "chatRequested" }
  | { type: "queued" | "queueUpdate"; position: number | null; estimatedWaitSecs: number | null }
  | { type: "chatEstablished" | "chatTransferred"; agent: AgentInfo }
  | { type: "agentDisconnected" }
  | { type: "agentMessage"; text: string; name?: string; agentId?: string; schedule?: { responseDelayMilliseconds?: number } }
  | { type: "agentTyping"; typing: boolean }
  /** The protocol's ChasitorSessionData. */
  | { type: "sessionRestored"; data: Record<string, unknown> }
  | { type: "serverSwitched"; endpoint: string }
  /** Decide with `acceptSwitch(offer, nowMs)` or `refuseSwitch(offer)` before `decideByMs`. */
  | { type: "switchOffered"; offer: number; endpoint: string; reason: RedirectRefusal; decideByMs: number }
  | { type: "sequenceReset"; previous: number; sequence: number }
  | { type: "delivered" | "deliveryUncertain" | "undelivered"; commands: number[] }
  | { type: "idleWarning"; endsAtMs: number }
  | { type: "idleWarningCleared" }
  | { type: "retrying"; request: RequestKind; attempt: number; atMs: number; cause: Failure }
  /** Any other server message; `payload` is its `message` with secret fields redacted. */
  | { type: "message"; messageType: string; payload: unknown; error?: string }
  | { type: "ended"; reason: EndReason };

export type Command =
  | { type: "sendMessage"; text: string }
  | { type: "setTyping"; typing: boolean }
  | { type: "sneakPeek"; text: string }
  | { type: "sendCustomEvent"; eventType: string; data?: string }
  | { type: "reportSensitiveDataRules"; rules: object[] }
  | { type: "sendRichMessage"; actions: { type: string; index: number; value: string; dialogId?: string }[] }
  | { type: "end" }
  | { type: "acceptSwitch"; offer: number; nowMs: number }
  | { type: "refuseSwitch"; offer: number };

export type State =
  | "connecting"
  | "initializing"
  | "requested"
  | "queued"
  | "chatting"
  | "agentDisconnected"
  | "ending"
  | "deleting"
  | "ended";

export interface Status {
  state: State;
  reconnecting: boolean;
  agentTyping: boolean;
  agent: AgentInfo | null;
  sessionId: string | null;
  endpoint: string;
  pendingCommands: number;
  pollTimeoutMs: number | null;
  endReason: EndReason | null;
}

/** Response headers: a `Headers`, an object, `[name, value]` pairs, or nothing. */
export type HeadersLike = Headers | Record<string, string> | [string, string][] | string | null | undefined;
export type Bytes = Uint8Array | ArrayBuffer | ArrayBufferView | string;

/** A visitor chat session. Times are milliseconds on your monotonic clock (`performance.now()`). */
export class Session {
  constructor(config: Config | string, nowMs: number);
  /** Resumes from a snapshot (from `snapshot()`, or serde JSON of a Rust `SessionSnapshot`). */
  static resume(config: Config | string, snapshot: string, nowMs: number): Session;
  pollOutput(nowMs: number): Output;
  /** Every output up to and including the next `wait`. */
  drainOutputs(nowMs: number): Output[];
  pollTimeout(): number | null;
  handleResponse(id: number, status: number, headers: HeadersLike, body: Bytes | null, nowMs: number): "accepted" | "stale";
  handleTransportError(id: number, kind: TransportErrorKind, nowMs: number): "accepted" | "stale";
  handleTimeout(nowMs: number): void;
  command(command: Command | string): { commandId?: number };
  /** Returns the command id (as in `delivered`, `deliveryUncertain`, `undelivered`). */
  sendMessage(text: string | Uint8Array): number;
  setTyping(typing: boolean): number;
  sneakPeek(text: string): number;
  sendCustomEvent(eventType: string, data?: string): number;
  reportSensitiveDataRules(rules: object[]): number;
  sendRichMessage(actions: { type: string; index: number; value: string; dialogId?: string }[]): number;
  end(): void;
  /** Follows the switch `offer` (from its `switchOffered` event); refused (`switchOfferGone`,
   * `switchOfferLapsed`) once replaced or past its `decideByMs`. */
  acceptSwitch(offer: number, nowMs: number): void;
  refuseSwitch(offer: number): void;
  /** The upload POST answering a FileTransfer `Requested` message (`transfer`: that event's `payload`). */
  uploadRequest(
    transfer: object | string,
    filename: string,
    contentType: string,
    file: Bytes,
  ): { method: string; url: string; headers: Record<string, string>; body: Uint8Array };
  status(): Status;
  /** The durable state as JSON text. Holds the session key and affinity token. */
  snapshot(): string;
  /** Frees the session now (otherwise when garbage-collected). */
  free(): void;
}

// ---- the simulator -------------------------------------------------------------------------------------

export type Trigger = { type: "request" | "poll" | "post" | "serverRequest"; n: number } | { type: "after"; ms: number };
export type FaultKind =
  | { type: "dropReply" | "expire" | "handover" | "switchServer" | "duplicateBatch" }
  | { type: "delayReply"; ms: number }
  | { type: "serverErrors"; count: number; status: number }
  | { type: "sequenceDrift"; by: number }
  | { type: "unreachable"; count: number; ms: number };
export type AgentStep = { afterMs?: number } & (
  | { type: "accept" | "typing" | "notTyping" | "echoVisitor" | "stopEcho" | "disconnect" | "end" | "requestFile" }
  | { type: "queueUpdate"; position: number }
  | { type: "decline"; reason: string }
  | { type: "say"; text: string }
  | { type: "transfer"; toName: string }
  | { type: "menu"; header: string; items: string[] }
  | { type: "customEvent"; eventType: string; data: string }
  | { type: "emit"; messageType: string; payload: unknown }
);

export interface SimConfig {
  version?: 1;
  seed?: number;
  scheme?: "http" | "https";
  host?: string;
  alternateHost?: string;
  pollHoldMs?: number;
  answerLatencyMs?: number;
  clientPollTimeoutSecs?: number;
  sessionIdleTimeoutMs?: number;
  minApiVersion?: number;
  available?: boolean;
  wrapVisitorAnswers?: boolean;
  recordTranscript?: boolean;
  epochMs?: number;
  /** A preset (`default`, `guide`, `legacy`, `strict`, `lenient`), `NAME=VALUE` assignments, or an object. */
  dialect?: string | Record<string, string>;
  agent?:
    | "default"
    | "idle"
    | {
        queuePosition?: number;
        echoPrefix?: string;
        attachedRecords?: unknown;
        profile?: { name?: string; userId?: string; sneakPeekEnabled?: boolean; idleTimeout?: object };
        steps?: AgentStep[];
      };
  faults?: { session?: number | null; at: Trigger; kind: FaultKind }[];
}

export interface DeliveryReport {
  clean: boolean;
  sent: number;
  acceptedByServer: number;
  agentEmitted: number;
  agentReceived: number;
  ended: EndReason | null;
  discrepancies: string[];
  notes: string[];
  text: string;
}

/** A session against the simulated server on a virtual clock from 0: a whole chat in milliseconds. */
export class Pair {
  /** The session's endpoint is replaced by the simulator's. */
  constructor(sessionConfig: Config | string, simConfig?: SimConfig | string);
  sendMessage(text: string): number;
  end(): void;
  command(command: Command | string): { commandId?: number };
  run(): void;
  runUntilEvent(type: Event["type"]): Event | null;
  runUntilElapsed(ms: number): void;
  elapsedMs(): number;
  events(): { atMs: number; event: Event }[];
  agentTexts(): string[];
  transcript(): string;
  /** Judged from the simulator's record. */
  checkDelivery(): DeliveryReport;
  snapshot(): string;
  free(): void;
}

// ---- the fetch driver ----------------------------------------------------------------------------------

export interface FetchDriverOptions {
  fetch?: typeof fetch;
  /** Milliseconds on a monotonic clock (default `performance.now()`). */
  now?: () => number;
  onEvent?: (event: Event, driver: FetchDriver) => void;
}

/** Drives a Session with `fetch`: the long poll and one POST in flight together, deadlines honoured
 * (`AbortSignal.timeout`), redirects not followed. */
export class FetchDriver {
  constructor(session: Session, options?: FetchDriverOptions);
  readonly session: Session;
  endReason: EndReason | null;
  /** Runs the chat to its end. */
  run(): Promise<EndReason | null>;
  /** Wakes the loop after a command given on `session` directly. */
  wake(): void;
  sendMessage(text: string): number;
  setTyping(typing: boolean): number;
  end(): void;
}
