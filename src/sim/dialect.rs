//! Server dialects: one switch per open question of the protocol (spec `chat-rest-api.md` §10, §12, and
//! `field-evidence.md`).
//!
//! The live service is retired, so nobody can ask the real server how it read these questions. A
//! [`Dialect`] is plain data — one small enum per question — that [`SimConfig::dialect`](super::SimConfig)
//! hands to the simulator. [`Dialect::default`] is the **evidence-weighted** reading: lenient wherever a
//! production client proves the real server was (no `X-LIVEAGENT-SEQUENCE` tolerated, gaps tolerated,
//! integers on the wire, ...), strict only where the guide is explicit and nothing contradicts it.
//! [`Dialect::guide`] is the literal reading of the guide. Every other value is a plausible server a client
//! must also survive.
//!
//! For tests and tools: [`Dialect::switches`] lists every switch with all its values (as text),
//! [`Dialect::set`] / [`Dialect::get`] address them by name, [`Dialect::each_value_alone`] builds every
//! value of every switch on top of the default, [`Dialect::pairwise`] a covering array in which every pair
//! of values of every two switches occurs, and [`Dialect::from_choices`] maps bytes to a dialect (for fuzzers:
//! byte `i` picks the value of switch `i`). [`Dialect::named`] resolves the names of [`Dialect::NAMES`] (for a
//! `--dialect NAME` flag). Serde uses the switch and value names as keys and strings, and missing keys take
//! their default, so `{"sequence-rule": "consecutive"}` is a complete dialect.
//!
//! Sources are cited by the short names of `field-evidence.md` (CARBON: IBM `@carbon/ai-chat`, SDK:
//! Salesforce's Android SDK, YALO: Yalutec's Go bridge, RC: Rocket.Chat's app, LINE, SRI, MAVEN, INB, G66:
//! the guide).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a switch: a plain enum with value names, `ALL` (the default first) and `NAMES`.
macro_rules! switch_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $var:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $var, )+
        }

        impl $name {
            /// Every value; the first is the default.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The value names (as in serde and on the command line), in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The value's name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$var => $text,)+
                }
            }

            /// The value with this name.
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $($text => Some($name::$var),)+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                // The first value listed is the evidence-weighted default.
                Self::DEFAULT
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// Declares [`Dialect`] and the name-based access to its switches.
macro_rules! dialect {
    ( $( $(#[$meta:meta])* $field:ident : $ty:ident = $text:literal, )+ ) => {
        /// How the simulated server reads each open question of the protocol. See the [module docs](self).
        ///
        /// Plain data: build it with struct syntax from [`Dialect::default`], by name with [`Dialect::set`], or
        /// from bytes with [`Dialect::from_choices`].
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Dialect {
            $( $(#[$meta])* #[serde(rename = $text)] pub $field: $ty, )+
        }

        const SWITCHES: &[SwitchInfo] = &[
            $( SwitchInfo { name: $text, values: $ty::NAMES, default: $ty::DEFAULT.name() }, )+
        ];

        impl Dialect {
            /// The value of the switch `name`, by name (`None`: no such switch).
            pub fn get(&self, name: &str) -> Option<&'static str> {
                match name {
                    $( $text => Some(self.$field.name()), )+
                    _ => None,
                }
            }

            /// Sets the switch `name` to the value named `value`.
            pub fn set(&mut self, name: &str, value: &str) -> Result<(), DialectError> {
                match name {
                    $( $text => match $ty::from_name(value) {
                        Some(v) => {
                            self.$field = v;
                            Ok(())
                        }
                        None => Err(DialectError::UnknownValue {
                            switch: $text,
                            value: value.to_owned(),
                            expected: $ty::NAMES,
                        }),
                    }, )+
                    _ => Err(DialectError::UnknownSwitch(name.to_owned())),
                }
            }

            /// A dialect from bytes: byte `i` picks the value of switch `i` (modulo its number of values);
            /// missing bytes leave the default. Total: every input gives a dialect (for fuzz targets).
            pub fn from_choices(bytes: &[u8]) -> Dialect {
                let mut d = Dialect::default();
                let mut it = bytes.iter();
                $(
                    if let Some(&b) = it.next() {
                        let i = usize::from(b) % $ty::ALL.len();
                        d.$field = $ty::ALL.get(i).copied().unwrap_or_default();
                    }
                )+
                d
            }
        }
    };
}

switch_enum! {
    /// After a ReconnectSession, what the restored session needs ChasitorResyncState for (spec §4.6 step 5,
    /// §4.9; `field-evidence.md` §4).
    ///
    /// * `not-needed` (default): accepted whenever it comes, nothing waits for it. The SDK never sends it
    ///   (its request factories have no ChasitorResyncState) and YALO reconnects without it, in production.
    /// * `required`: the guide's reading (status table: after ReconnectSession make the resync request; CARBON
    ///   sends it on ChasitorSessionData): until it arrives nothing after ChasitorSessionData is delivered, the
    ///   agent script (routing) waits, and other chat POSTs answer 500.
    /// * `refused-while-queued`: answered 500 (the guide's NullPointerException) while the chat is not yet
    ///   established (§2 step 5, §9.1); accepted once chatting. Nothing waits for it.
    ResyncRule {
        /// Accepted, never awaited.
        NotNeeded = "not-needed",
        /// Awaited before anything is routed or delivered.
        Required = "required",
        /// 500 while queued, accepted when chatting.
        RefusedWhileQueued = "refused-while-queued",
    }
}

switch_enum! {
    /// A sequenced POST without `X-LIVEAGENT-SEQUENCE` (spec §4.4, §1.3.1; `field-evidence.md` §1).
    ///
    /// * `optional` (default): processed (without duplicate detection) and a warning recorded. YALO and RC
    ///   never send the header and ran in production; SRI: "sequence is not required"; MAVEN, INB omit it.
    ///   No rejection for a missing header was ever reported.
    /// * `required`: 400 `Missing X-LIVEAGENT-SEQUENCE header` (the guide lists it on every such request).
    SequenceHeader {
        /// Tolerated (warning).
        Optional = "optional",
        /// 400.
        Required = "required",
    }
}

switch_enum! {
    /// Which new sequence numbers are accepted (spec §4.4, §12; `field-evidence.md` §2).
    ///
    /// * `increasing` (default): any number above the last accepted one; a gap is recorded as a warning.
    ///   The SDK gives every retry of a failed POST a new number, so Salesforce's own client left gaps.
    /// * `consecutive`: exactly last + 1 (the guide: "increased by one with every new request"); a gap is
    ///   409 `Out of sync Ack. Expected N. Actual M`.
    SequenceRule {
        /// Any increase.
        Increasing = "increasing",
        /// Exactly +1.
        Consecutive = "consecutive",
    }
}

switch_enum! {
    /// An `X-LIVEAGENT-SEQUENCE` sent on ChasitorResyncState (spec §4.4: the guide does not list it there;
    /// CARBON: "Do not send sequence header for this call").
    ///
    /// * `counted` (default): when present it is checked and consumed like on any sequenced POST, so a
    ///   client that numbers its resync and continues from there is not answered 409 on its next POST.
    ///   Absent is fine. (A warning notes the header the guide does not list.)
    /// * `ignored`: the header is ignored; the next POST must continue from the number before it.
    ResyncSequence {
        /// Checked and consumed when present.
        Counted = "counted",
        /// Ignored.
        Ignored = "ignored",
    }
}

switch_enum! {
    /// A POST whose sequence number was already accepted (spec §4.4; `field-evidence.md` §2: no evidence of
    /// the outcome).
    ///
    /// * `dropped` (default): answered success and not processed again — the header's stated purpose
    ///   ("lets the server discard duplicate POSTs"). A *different* request under a used number (hrk623,
    ///   mjrforce) is therefore lost: a violation.
    /// * `processed`: processed again (a server that does not deduplicate); a reused number is a warning.
    DuplicateSequence {
        /// Discarded (answered success).
        Dropped = "dropped",
        /// Processed again.
        Processed = "processed",
    }
}

switch_enum! {
    /// What `Actual M` of a 409 `Out of sync Ack. Expected N. Actual M` means (spec §4.4, §12;
    /// `field-evidence.md` §3).
    ///
    /// * `last-accepted` (default): M is the last number the server accepted; continue from M + 1 (CARBON's
    ///   comment, the likelier reading).
    /// * `next-expected`: M is the next number the server accepts (LINE stores M and sends it next).
    OutOfSyncActual {
        /// M = last accepted.
        LastAccepted = "last-accepted",
        /// M = next expected.
        NextExpected = "next-expected",
    }
}

switch_enum! {
    /// `resetSequence` in the ReconnectSession answer, and what the server does with its counter (spec §4.4,
    /// §4.6; §9 pitfall 10; `field-evidence.md` §4: never seen false).
    ///
    /// * `true` (default): sent as `true`; the next sequenced POST must carry 1 (the guide: "always").
    /// * `false`: sent as `false`; the server keeps counting from the last accepted number.
    /// * `absent`: not sent (the SDK treats a missing flag as true); the counter restarts.
    ResetSequence {
        /// `"resetSequence": true`, counter restarts.
        True = "true",
        /// `"resetSequence": false`, counter continues.
        False = "false",
        /// No `resetSequence`, counter restarts.
        Absent = "absent",
    }
}

switch_enum! {
    /// The shape of the ReconnectSession answer (spec §5.1, §6.5; §9 pitfall 11).
    ///
    /// * `wrapped` (default): `{"messages":[{"type":"ReconnectSession","message":{...}}]}` (G66 ch.6; the
    ///   new token at `messages[0].message.affinityToken`, as peers read it).
    /// * `bare`: `{"resetSequence":...,"affinityToken":...}` (G66 ch.8 shows it bare too).
    ReconnectBody {
        /// In the messages envelope.
        Wrapped = "wrapped",
        /// The payload alone.
        Bare = "bare",
    }
}

switch_enum! {
    /// Whether a ChasitorSessionData message opens the polls after a ReconnectSession (spec §4.6 step 4,
    /// §5.2.1; `field-evidence.md` §4: no capture exists, CARBON "can't get Salesforce to send this").
    ///
    /// * `sent-first` (default): the guide's description.
    /// * `never`: the restored session only re-queues what the visitor did not get.
    SessionData {
        /// ChasitorSessionData first.
        SentFirst = "sent-first",
        /// Never sent.
        Never = "never",
    }
}

switch_enum! {
    /// Which `ack` the first Messages poll after a ReconnectSession must carry (spec §4.6: undocumented;
    /// CARBON resets to -1 "untested", the SDK sends no ack at all). Polls **without** `ack` are right in
    /// every value (they acknowledge what was delivered) and are no finding; the check applies to the first
    /// poll after the reconnect that carries an `ack`.
    ///
    /// * `either` (default): numbering continues; the continued ack and `-1` are both fine (`-1` asks again
    ///   for whatever is still retained, which after a reconnect is exactly what the visitor lacks).
    /// * `continued`: numbering continues and an ack below the reconnect offset's message is a violation,
    ///   answered 400 `Invalid ack`.
    /// * `minus-one`: the new app server restarts the numbering (ChasitorSessionData has `sequence` 0); the
    ///   first ack must be `-1` (or, once a batch of the new numbering went out, one within it); any other
    ///   is a violation answered 400 `Invalid ack`.
    ReconnectAck {
        /// Continued or -1.
        Either = "either",
        /// Only the continued ack.
        Continued = "continued",
        /// Only -1; the numbering restarts.
        MinusOne = "minus-one",
    }
}

switch_enum! {
    /// How a poll that ends without messages is answered (spec §4.1; `field-evidence.md` §5).
    ///
    /// * `no-content` (default): 204 with an empty body (CARBON: "a 204 will be returned"; strong).
    /// * `empty-batch`: 200 `{"messages":[]}` without `sequence` or `offset` (never observed; plausible).
    EmptyPoll {
        /// 204.
        NoContent = "no-content",
        /// 200 with an empty array.
        EmptyBatch = "empty-batch",
    }
}

switch_enum! {
    /// How numbers are written (spec §0.3, §11; `field-evidence.md` §7).
    ///
    /// * `integers` (default): integral values as JSON integers (`"estimatedWaitTime": -1`,
    ///   `"connectionTimeout": 150000`): every capture, YALO's typed Go `int` fields.
    /// * `floats`: integral floats with a fraction (`-1.0`, `150000.0`), as the simulator once wrote them.
    /// * `strings`: every number of a payload as a numeric string (the guide's `"clientPollTimeout": "30"`);
    ///   the Messages envelope's `sequence` and `offset` stay integers (YALO relies on them).
    Numbers {
        /// `150000`.
        Integers = "integers",
        /// `150000.0`.
        Floats = "floats",
        /// `"150000"`.
        Strings = "strings",
    }
}

switch_enum! {
    /// The type of `attachedRecords` in ChatEnded and ChatRequestFail (spec §10).
    ///
    /// * `array` (default): a JSON array (RXSF string[], GO1 objects; `[]` in real traffic).
    /// * `string`: the guide's type String (the array's JSON text).
    AttachedRecords {
        /// A JSON array.
        Array = "array",
        /// A JSON string.
        String = "string",
    }
}

switch_enum! {
    /// Ending a chat that is still queued (spec §12, §2 step 5, §3.1.2; `field-evidence.md` §6).
    ///
    /// * `both` (default): ChatEnd (RC's "visitor leaves queue") and `DELETE System/SessionId` (MAVEN; the
    ///   SDK sends both) are accepted. ChatEnd before ChatEstablished is a warning (§2 step 5).
    /// * `chat-end-only`: DELETE answers 500 while queued; ChatEnd is accepted.
    /// * `delete-only`: ChatEnd answers 500 while queued (the guide's NullPointerException for requests
    ///   before ChatEstablished); DELETE, the documented way to end a session, is accepted.
    EndWhileQueued {
        /// Both accepted.
        Both = "both",
        /// DELETE refused.
        ChatEndOnly = "chat-end-only",
        /// ChatEnd refused.
        DeleteOnly = "delete-only",
    }
}

switch_enum! {
    /// AgentTyping / AgentNotTyping order (spec §9 pitfall 8; CARBON: "wrong order … during reconnect").
    ///
    /// * `in-order` (default).
    /// * `swapped`: an AgentNotTyping emitted while the AgentTyping before it is still undelivered goes out
    ///   first, so one batch carries `AgentNotTyping, AgentTyping`.
    TypingOrder {
        /// As emitted.
        InOrder = "in-order",
        /// NotTyping overtakes Typing.
        Swapped = "swapped",
    }
}

switch_enum! {
    /// A second Messages poll while one is held (spec §8, §9 pitfall 2; `field-evidence.md` §9).
    ///
    /// * `poll-again` (default): both polls get 409 ("Duplicate Long Polling") and the chat goes on; YALO and
    ///   RC polled again after a 409 in production. Recorded as a warning.
    /// * `ends-chat`: both polls get 409 and the chat is terminated (the guide). A violation.
    PollConflict {
        /// 409, the chat continues.
        PollAgain = "poll-again",
        /// 409, the chat ends.
        EndsChat = "ends-chat",
    }
}

switch_enum! {
    /// The status of a successful POST (spec §8; `field-evidence.md` §9).
    ///
    /// * `200` (default): YALO, RC and hrk623 require `== 200` and ran in production.
    /// * `202`: the guide's status table ("Accepted (POST)").
    /// * `204`: plausible for an empty answer.
    PostSuccess {
        /// 200.
        Ok = "200",
        /// 202.
        Accepted = "202",
        /// 204.
        NoContent = "204",
    }
}

switch_enum! {
    /// How long a session may go without a poll (spec §4.1: "the session ends after a server-side timeout";
    /// `field-evidence.md` §9: YALO runbook, polls more than 45 s apart got 403).
    ///
    /// * `limited` (default): no poll in progress for 45 s (or [`SimConfig::session_idle_timeout`], if
    ///   shorter) ends the session; later requests get 403.
    /// * `unlimited`: only [`SimConfig::session_idle_timeout`] applies.
    ///
    /// [`SimConfig::session_idle_timeout`]: super::SimConfig::session_idle_timeout
    PollGap {
        /// 45 s.
        Limited = "limited",
        /// The configured idle timeout only.
        Unlimited = "unlimited",
    }
}

switch_enum! {
    /// ChatMessage POSTs in quick succession (spec §9 pitfall 7; CARBON paces them 15 ms apart because fast
    /// ones "are not processed although 200 is returned"; single source).
    ///
    /// * `processed` (default).
    /// * `dropped`: a ChatMessage less than 15 ms after the previous accepted one is answered success and
    ///   silently not processed (a violation in the report).
    RapidMessages {
        /// Processed.
        Processed = "processed",
        /// Dropped within 15 ms.
        Dropped = "dropped",
    }
}

switch_enum! {
    /// The shape of affinity tokens (spec §4.5; `field-evidence.md` §9: SRI saw `10.44.144.152:443`).
    ///
    /// * `hex` (default): 8 hex digits (`73061fa0`), as in most captures.
    /// * `host-port`: `10.x.y.z:443`.
    AffinityShape {
        /// `73061fa0`.
        Hex = "hex",
        /// `10.44.144.152:443`.
        HostPort = "host-port",
    }
}

switch_enum! {
    /// `X-LIVEAGENT-AFFINITY` on ReconnectSession (spec §4.5 step 3, §10).
    ///
    /// * `null-or-previous` (default): the literal `null` (doc example, SDK, PY1) or the token the visitor
    ///   held before the handover (CARBON, untested) — the latter with a warning.
    /// * `null`: only `null`; anything else is 400.
    ReconnectAffinity {
        /// `null` or the previous token.
        NullOrPrevious = "null-or-previous",
        /// `null` only.
        Null = "null",
    }
}

switch_enum! {
    /// Booleans and numbers in request bodies sent as JSON strings (spec §3.2.1, §11; `protocol-decisions.md`
    /// D26). Unknown fields are ignored under both values, as `wire` ignores them in answers.
    ///
    /// * `lenient` (default): `"true"`/`"false"` are read as booleans and decimal strings as numbers wherever
    ///   the guide types a field so (`receiveQueueUpdates`, `isPost`, `doFallback`, `showOnCreate`, `doFind`,
    ///   `isExactMatch`, `doCreate`, `displayToAgent`, `position`, ...), with a `lenient-body` warning. A
    ///   bot-platform integration shipped `receiveQueueUpdates: "true"`, `isPost: "true"` and string booleans in
    ///   its prechat entities for years; the real server took them (its Java binder reads strings into booleans).
    /// * `strict`: the guide's JSON types only; anything else is 400 `Bad request body: invalid type ...`.
    BodyValues {
        /// Strings accepted for booleans and numbers (warning).
        Lenient = "lenient",
        /// JSON types as the guide gives them.
        Strict = "strict",
    }
}

switch_enum! {
    /// ChasitorInit without `sessionId` or `visitorName` (spec §3.2.1: the guide marks no field as required;
    /// `protocol-decisions.md` D27).
    ///
    /// * `optional` (default): accepted with a `missing-field` warning; a missing `sessionId` is taken as the
    ///   session's own id, a missing `visitorName` as empty. A web-chat handoff integration sent exactly that body
    ///   (organizationId, deploymentId, buttonId, userAgent, language, screenResolution, prechat details and
    ///   entities, receiveQueueUpdates, isPost) in production for years. The other documented fields are
    ///   defaulted (empty text, `false`) the same way.
    /// * `required`: every documented field but the optional ones must be present (400 `missing field`).
    InitFields {
        /// Missing fields defaulted (warning).
        Optional = "optional",
        /// 400 for a missing field.
        Required = "required",
    }
}

switch_enum! {
    /// `System/SessionId` without `X-LIVEAGENT-AFFINITY` (spec §1.3.1, §3.1.1; `protocol-decisions.md` D28).
    ///
    /// * `optional` (default): a missing header is accepted with a `missing-affinity` warning (an integration
    ///   that sends only `X-LIVEAGENT-API-VERSION` to SessionId worked against real orgs); any value other than
    ///   `null` is still 400.
    /// * `null-required`: the header must be the literal `null` (400 otherwise), as the header matrix shows.
    SessionIdAffinity {
        /// Missing accepted (warning).
        Optional = "optional",
        /// The literal `null` required.
        NullRequired = "null-required",
    }
}

macro_rules! defaults {
    ($($ty:ident = $var:ident),+ $(,)?) => {
        $( impl $ty {
            /// The evidence-weighted default value.
            pub const DEFAULT: $ty = $ty::$var;
        } )+
    };
}

defaults! {
    ResyncRule = NotNeeded,
    SequenceHeader = Optional,
    SequenceRule = Increasing,
    ResyncSequence = Counted,
    DuplicateSequence = Dropped,
    OutOfSyncActual = LastAccepted,
    ResetSequence = True,
    ReconnectBody = Wrapped,
    SessionData = SentFirst,
    ReconnectAck = Either,
    EmptyPoll = NoContent,
    Numbers = Integers,
    AttachedRecords = Array,
    EndWhileQueued = Both,
    TypingOrder = InOrder,
    PollConflict = PollAgain,
    PostSuccess = Ok,
    PollGap = Limited,
    RapidMessages = Processed,
    AffinityShape = Hex,
    ReconnectAffinity = NullOrPrevious,
    BodyValues = Lenient,
    InitFields = Optional,
    SessionIdAffinity = Optional,
}

dialect! {
    /// ChasitorResyncState after a reconnect.
    resync: ResyncRule = "resync",
    /// A missing `X-LIVEAGENT-SEQUENCE`.
    sequence_header: SequenceHeader = "sequence-header",
    /// Gaps in `X-LIVEAGENT-SEQUENCE`.
    sequence_rule: SequenceRule = "sequence-rule",
    /// `X-LIVEAGENT-SEQUENCE` on ChasitorResyncState.
    resync_sequence: ResyncSequence = "resync-sequence",
    /// A reused sequence number.
    duplicate_sequence: DuplicateSequence = "duplicate-sequence",
    /// The meaning of `Actual` in a 409.
    out_of_sync_actual: OutOfSyncActual = "out-of-sync-actual",
    /// `resetSequence` in the ReconnectSession answer.
    reset_sequence: ResetSequence = "reset-sequence",
    /// The ReconnectSession answer's shape.
    reconnect_body: ReconnectBody = "reconnect-body",
    /// ChasitorSessionData after a reconnect.
    session_data: SessionData = "session-data",
    /// The `ack` of the first poll after a reconnect.
    reconnect_ack: ReconnectAck = "reconnect-ack",
    /// The answer to a poll without messages.
    empty_poll: EmptyPoll = "empty-poll",
    /// Numbers on the wire.
    numbers: Numbers = "numbers",
    /// The type of `attachedRecords`.
    attached_records: AttachedRecords = "attached-records",
    /// Ending while queued.
    end_while_queued: EndWhileQueued = "end-while-queued",
    /// AgentTyping / AgentNotTyping order.
    typing_order: TypingOrder = "typing-order",
    /// A second concurrent poll.
    poll_conflict: PollConflict = "poll-conflict",
    /// The status of a successful POST.
    post_success: PostSuccess = "post-success",
    /// The longest gap between polls.
    poll_gap: PollGap = "poll-gap",
    /// ChatMessage POSTs in quick succession.
    rapid_messages: RapidMessages = "rapid-messages",
    /// The shape of affinity tokens.
    affinity_shape: AffinityShape = "affinity-shape",
    /// `X-LIVEAGENT-AFFINITY` on ReconnectSession.
    reconnect_affinity: ReconnectAffinity = "reconnect-affinity",
    /// Booleans and numbers sent as JSON strings in request bodies.
    body_values: BodyValues = "body-values",
    /// ChasitorInit without `sessionId` or `visitorName`.
    init_fields: InitFields = "init-fields",
    /// SessionId without `X-LIVEAGENT-AFFINITY`.
    session_id_affinity: SessionIdAffinity = "session-id-affinity",
}

/// One switch of a [`Dialect`], for listing and iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchInfo {
    /// The switch name (a serde key of [`Dialect`], and the `NAME` of `NAME=VALUE` assignments).
    pub name: &'static str,
    /// Every value's name; the first is the default.
    pub values: &'static [&'static str],
    /// The default value's name.
    pub default: &'static str,
}

/// A switch or value name that [`Dialect::set`], [`Dialect::named`] or [`Dialect::parse_assignments`] does
/// not know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialectError {
    /// No switch has this name.
    UnknownSwitch(String),
    /// The switch has no value with this name.
    UnknownValue {
        /// The switch.
        switch: &'static str,
        /// The value given.
        value: String,
        /// The values it has.
        expected: &'static [&'static str],
    },
    /// An assignment without `=`.
    Malformed(String),
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialectError::UnknownSwitch(s) => {
                let names: Vec<&str> = SWITCHES.iter().map(|s| s.name).collect();
                write!(
                    f,
                    "unknown dialect switch {s:?} (known: {})",
                    names.join(", ")
                )
            }
            DialectError::UnknownValue {
                switch,
                value,
                expected,
            } => write!(
                f,
                "unknown value {value:?} for dialect switch {switch} (expected one of: {})",
                expected.join(", ")
            ),
            DialectError::Malformed(s) => {
                write!(
                    f,
                    "malformed dialect assignment {s:?} (expected NAME=VALUE)"
                )
            }
        }
    }
}

impl std::error::Error for DialectError {}

impl Dialect {
    /// The names [`Dialect::named`] resolves:
    ///
    /// * `default` (alias `evidence`): [`Dialect::default`], the evidence-weighted reading;
    /// * `guide`: [`Dialect::guide`], the literal guide;
    /// * `legacy`: [`Dialect::legacy`], the simulator before dialects existed;
    /// * `strict`: [`Dialect::strict`], every switch at its least forgiving value;
    /// * `lenient`: [`Dialect::lenient`], every switch at its most forgiving value.
    pub const NAMES: &'static [&'static str] = &["default", "guide", "legacy", "strict", "lenient"];

    /// The dialect with this name (see [`Dialect::NAMES`]; `evidence` is an alias of `default`).
    pub fn named(name: &str) -> Option<Dialect> {
        match name {
            "default" | "evidence" => Some(Dialect::default()),
            "guide" => Some(Dialect::guide()),
            "legacy" => Some(Dialect::legacy()),
            "strict" => Some(Dialect::strict()),
            "lenient" => Some(Dialect::lenient()),
            _ => None,
        }
    }

    /// The literal reading of the guide (G66), where it says anything; the default elsewhere.
    pub fn guide() -> Dialect {
        Dialect {
            resync: ResyncRule::Required,
            sequence_header: SequenceHeader::Required,
            sequence_rule: SequenceRule::Consecutive,
            resync_sequence: ResyncSequence::Ignored,
            attached_records: AttachedRecords::String,
            end_while_queued: EndWhileQueued::DeleteOnly,
            poll_conflict: PollConflict::EndsChat,
            post_success: PostSuccess::Accepted,
            poll_gap: PollGap::Unlimited,
            reconnect_affinity: ReconnectAffinity::Null,
            body_values: BodyValues::Strict,
            session_id_affinity: SessionIdAffinity::NullRequired,
            ..Dialect::default()
        }
    }

    /// The simulator as it was before dialects: SEQUENCE required and consecutive, not counted on
    /// ChasitorResyncState, integral floats on the wire, a second poll ends the chat, only the idle timeout.
    pub fn legacy() -> Dialect {
        Dialect {
            sequence_header: SequenceHeader::Required,
            sequence_rule: SequenceRule::Consecutive,
            resync_sequence: ResyncSequence::Ignored,
            numbers: Numbers::Floats,
            poll_conflict: PollConflict::EndsChat,
            poll_gap: PollGap::Unlimited,
            reconnect_affinity: ReconnectAffinity::Null,
            body_values: BodyValues::Strict,
            init_fields: InitFields::Required,
            session_id_affinity: SessionIdAffinity::NullRequired,
            ..Dialect::default()
        }
    }

    /// Every switch at its least forgiving value: the hardest server a client must still complete a chat with.
    pub fn strict() -> Dialect {
        Dialect {
            resync: ResyncRule::Required,
            sequence_header: SequenceHeader::Required,
            sequence_rule: SequenceRule::Consecutive,
            resync_sequence: ResyncSequence::Ignored,
            duplicate_sequence: DuplicateSequence::Dropped,
            out_of_sync_actual: OutOfSyncActual::NextExpected,
            reset_sequence: ResetSequence::Absent,
            reconnect_body: ReconnectBody::Bare,
            session_data: SessionData::Never,
            reconnect_ack: ReconnectAck::MinusOne,
            empty_poll: EmptyPoll::EmptyBatch,
            numbers: Numbers::Strings,
            attached_records: AttachedRecords::String,
            end_while_queued: EndWhileQueued::DeleteOnly,
            typing_order: TypingOrder::Swapped,
            poll_conflict: PollConflict::EndsChat,
            post_success: PostSuccess::NoContent,
            poll_gap: PollGap::Limited,
            rapid_messages: RapidMessages::Dropped,
            affinity_shape: AffinityShape::HostPort,
            reconnect_affinity: ReconnectAffinity::Null,
            body_values: BodyValues::Strict,
            init_fields: InitFields::Required,
            session_id_affinity: SessionIdAffinity::NullRequired,
        }
    }

    /// Every switch at its most forgiving value.
    pub fn lenient() -> Dialect {
        Dialect {
            poll_gap: PollGap::Unlimited,
            ..Dialect::default()
        }
    }

    /// Every switch with all its values, in declaration order (the order [`Dialect::from_choices`] reads).
    pub fn switches() -> &'static [SwitchInfo] {
        SWITCHES
    }

    /// Applies `NAME=VALUE` assignments separated by commas or whitespace (e.g.
    /// `"sequence-rule=consecutive, resync=required"`) on top of `self`.
    pub fn parse_assignments(mut self, text: &str) -> Result<Dialect, DialectError> {
        for part in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
        {
            let Some((name, value)) = part.split_once('=') else {
                return Err(DialectError::Malformed(part.to_owned()));
            };
            self.set(name.trim(), value.trim())?;
        }
        Ok(self)
    }

    /// The switches that differ from the default, as `NAME=VALUE` assignments (empty for the default):
    /// a short label for test names and transcripts, and valid input to [`Dialect::parse_assignments`].
    pub fn label(&self) -> String {
        let mut out = Vec::new();
        for s in SWITCHES {
            if let Some(v) = self.get(s.name).filter(|v| *v != s.default) {
                out.push(format!("{}={v}", s.name));
            }
        }
        out.join(",")
    }

    /// Every non-default value of every switch, each alone on top of the default, labelled `NAME=VALUE`.
    pub fn each_value_alone() -> Vec<(String, Dialect)> {
        let mut out = Vec::new();
        for s in SWITCHES {
            for v in s.values.iter().filter(|v| **v != s.default) {
                let mut d = Dialect::default();
                if d.set(s.name, v).is_ok() {
                    out.push((format!("{}={v}", s.name), d));
                }
            }
        }
        out
    }

    /// A pairwise covering array: every value of every switch is combined with every value of every other
    /// switch in at least one of the returned dialects. Deterministic (a greedy construction); the default
    /// dialect comes first.
    pub fn pairwise() -> Vec<Dialect> {
        let sizes: Vec<usize> = SWITCHES.iter().map(|s| s.values.len()).collect();
        let n = sizes.len();
        // uncovered[(i, j)] for i < j: the value pairs not yet covered.
        let mut uncovered: Vec<Vec<Vec<bool>>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        let (a, b) = (sizes.get(i).copied(), sizes.get(j).copied());
                        if j > i {
                            vec![true; a.unwrap_or(0) * b.unwrap_or(0)]
                        } else {
                            Vec::new()
                        }
                    })
                    .collect()
            })
            .collect();
        let mut rows: Vec<Vec<usize>> = Vec::new();
        let mark = |uncovered: &mut Vec<Vec<Vec<bool>>>, row: &[usize]| -> usize {
            let mut newly = 0;
            for i in 0..row.len() {
                for j in (i + 1)..row.len() {
                    let (Some(&vi), Some(&vj), Some(&sj)) = (row.get(i), row.get(j), sizes.get(j))
                    else {
                        continue;
                    };
                    if let Some(cell) = uncovered
                        .get_mut(i)
                        .and_then(|r| r.get_mut(j))
                        .and_then(|c| c.get_mut(vi * sj + vj))
                        && *cell
                    {
                        *cell = false;
                        newly += 1;
                    }
                }
            }
            newly
        };
        let first = vec![0; n];
        mark(&mut uncovered, &first);
        rows.push(first);
        let remaining =
            |u: &Vec<Vec<Vec<bool>>>| u.iter().flatten().flatten().filter(|c| **c).count();
        while remaining(&uncovered) > 0 {
            // Seed the row with the first uncovered pair, then fill each other switch greedily.
            let mut row = vec![usize::MAX; n];
            'seed: for i in 0..n {
                for j in (i + 1)..n {
                    let sj = sizes.get(j).copied().unwrap_or(1).max(1);
                    if let Some(k) = uncovered
                        .get(i)
                        .and_then(|r| r.get(j))
                        .and_then(|c| c.iter().position(|x| *x))
                    {
                        if let Some(x) = row.get_mut(i) {
                            *x = k / sj;
                        }
                        if let Some(x) = row.get_mut(j) {
                            *x = k % sj;
                        }
                        break 'seed;
                    }
                }
            }
            for f in 0..n {
                if row.get(f) != Some(&usize::MAX) {
                    continue;
                }
                let size = sizes.get(f).copied().unwrap_or(1);
                let mut best = (0, 0);
                for v in 0..size {
                    let mut gain = 0;
                    for (g, &vg) in row.iter().enumerate() {
                        if g == f || vg == usize::MAX {
                            continue;
                        }
                        let (i, vi, j, vj) = if g < f { (g, vg, f, v) } else { (f, v, g, vg) };
                        let sj = sizes.get(j).copied().unwrap_or(1);
                        if uncovered
                            .get(i)
                            .and_then(|r| r.get(j))
                            .and_then(|c| c.get(vi * sj + vj))
                            .copied()
                            .unwrap_or(false)
                        {
                            gain += 1;
                        }
                    }
                    if gain > best.1 {
                        best = (v, gain);
                    }
                }
                if let Some(x) = row.get_mut(f) {
                    *x = best.0;
                }
            }
            if mark(&mut uncovered, &row) == 0 {
                // Cannot happen (the seed pair is always new); stop rather than loop.
                break;
            }
            rows.push(row);
        }
        rows.iter()
            .map(|row| {
                let mut d = Dialect::default();
                for (s, &v) in SWITCHES.iter().zip(row) {
                    if let Some(value) = s.values.get(v) {
                        let _ = d.set(s.name, value);
                    }
                }
                d
            })
            .collect()
    }
}

impl fmt::Display for Dialect {
    /// The [`label`](Dialect::label), or `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = self.label();
        if label.is_empty() {
            f.write_str("default")
        } else {
            f.write_str(&label)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_defaults_come_first() -> Result<(), Box<dyn std::error::Error>> {
        for s in Dialect::switches() {
            assert_eq!(s.values.first(), Some(&s.default), "{}", s.name);
            assert_eq!(Dialect::default().get(s.name), Some(s.default));
            for v in s.values {
                let mut d = Dialect::default();
                d.set(s.name, v)?;
                assert_eq!(d.get(s.name), Some(*v));
                let back: Dialect = serde_json::from_str(&serde_json::to_string(&d)?)?;
                assert_eq!(back, d);
                assert_eq!(Dialect::default().parse_assignments(&d.label()), Ok(d));
            }
        }
        Ok(())
    }

    #[test]
    fn pairwise_covers_every_pair() {
        let rows = Dialect::pairwise();
        assert_eq!(rows.first(), Some(&Dialect::default()));
        let sw = Dialect::switches();
        for (i, a) in sw.iter().enumerate() {
            for b in sw.iter().skip(i + 1) {
                for va in a.values {
                    for vb in b.values {
                        assert!(
                            rows.iter()
                                .any(|d| d.get(a.name) == Some(*va) && d.get(b.name) == Some(*vb)),
                            "{}={va} with {}={vb}",
                            a.name,
                            b.name
                        );
                    }
                }
            }
        }
        assert!(rows.len() < 40, "{} rows", rows.len());
    }
}
