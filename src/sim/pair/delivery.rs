//! The delivery check of [`Pair`]: what the simulator recorded (the visitor texts it accepted, the agent
//! texts it emitted) against the events the application got.

use super::Pair;
use crate::wire::LogSafe;
use crate::{CommandId, EndReason, Event};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

impl Pair {
    /// Compares what the simulator recorded — the visitor texts it accepted, the agent texts it emitted —
    /// with the events the application got. See [`DeliveryReport`] and [`Discrepancy`] for what is checked.
    /// Only texts sent with [`send_message`](Self::send_message) are judged on the visitor side; texts are
    /// told apart by content, so give each a distinct one.
    pub fn check_delivery(&self) -> DeliveryReport {
        self.check_delivery_of(0)
    }

    /// [`check_delivery`](Self::check_delivery) for session `i`.
    pub fn check_delivery_of(&self, i: usize) -> DeliveryReport {
        let visitor = self.visitors.at(i);
        let record = visitor
            .session
            .session_id()
            .and_then(|id| self.server.session(id));
        let empty: &[String] = &[];
        let at_server = record.map_or(empty, |r| r.visitor_messages.as_slice());
        let lost_to_drift = record.map_or(empty, |r| r.lost_to_drift.as_slice());
        let emitted = record.map_or(empty, |r| r.agent_messages.as_slice());
        let mut report = DeliveryReport {
            sent: visitor.texts.len(),
            accepted_by_server: at_server.len(),
            agent_emitted: emitted.len(),
            agent_received: 0,
            ended: None,
            discrepancies: Vec::new(),
            notes: Vec::new(),
        };

        // The application's view: each command's verdict.
        let mut verdict: HashMap<CommandId, Verdict> = HashMap::new();
        let mut twice: BTreeSet<CommandId> = BTreeSet::new();
        let mut received: Vec<&str> = Vec::new();
        let mut judge = |ids: &[CommandId], v: Verdict| {
            for id in ids {
                if verdict.insert(*id, v).is_some() {
                    twice.insert(*id);
                }
            }
        };
        for (_, ev) in &visitor.events {
            match ev {
                Event::Delivered(ids) => judge(ids, Verdict::Delivered),
                Event::DeliveryUncertain(ids) => judge(ids, Verdict::Uncertain),
                Event::Undelivered(ids) => judge(ids, Verdict::Undelivered),
                Event::AgentMessage(m) => received.push(m.text.as_str()),
                Event::Ended(r) => report.ended = Some(r.clone()),
                _ => {}
            }
        }
        report.agent_received = received.len();

        // Visitor -> agent, from the server's record.
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in at_server {
            let c = counts.entry(t.as_str()).or_default();
            *c = c.saturating_add(1);
        }
        let ended = report.ended.is_some();
        for (id, text) in &visitor.texts {
            if twice.contains(id) {
                report
                    .discrepancies
                    .push(Discrepancy::VerdictTwice { text: text.clone() });
            }
            let times = counts.get(text.as_str()).copied().unwrap_or(0);
            let v = verdict.get(id).copied();
            let d = match v {
                // The server answered 200 to a number its own drift skipped: nothing could tell the session.
                Some(Verdict::Delivered) if times == 0 && lost_to_drift.contains(text) => {
                    report
                        .notes
                        .push(DeliveryNote::LostToUnseenDrift { text: text.clone() });
                    None
                }
                Some(Verdict::Delivered) if times == 0 => {
                    Some(Discrepancy::DeliveredButMissing { text: text.clone() })
                }
                Some(Verdict::Undelivered) if times > 0 => {
                    Some(Discrepancy::UndeliveredButArrived {
                        text: text.clone(),
                        times,
                    })
                }
                // Every attempt whose outcome the session could not know may have been processed (a server
                // that does not drop a re-used sequence number processes each: `duplicate-sequence=processed`),
                // plus the one answered: at most that many, and twice in any case.
                Some(Verdict::Uncertain)
                    if times
                        > usize::try_from(
                            visitor.wire_texts.get(text).map_or(0, |w| w.unsettled),
                        )
                        .unwrap_or(usize::MAX)
                        .saturating_add(1)
                        .max(2) =>
                {
                    Some(Discrepancy::Duplicated {
                        text: text.clone(),
                        times,
                    })
                }
                Some(Verdict::Uncertain) => {
                    let w = visitor.wire_texts.get(text).copied().unwrap_or_default();
                    if w.unsettled == 0 {
                        report.notes.push(DeliveryNote::NeedlessUncertainty {
                            text: text.clone(),
                            times,
                        });
                    }
                    None
                }
                _ if times > 1 => Some(Discrepancy::Duplicated {
                    text: text.clone(),
                    times,
                }),
                None if ended => Some(Discrepancy::NoVerdict {
                    text: text.clone(),
                    times,
                }),
                _ => None,
            };
            report.discrepancies.extend(d);
        }
        // Texts at the server that the application never sent (through the pair).
        let sent: BTreeSet<&str> = visitor.texts.iter().map(|(_, t)| t.as_str()).collect();
        let mut flagged = BTreeSet::new();
        for t in at_server {
            if !sent.contains(t.as_str()) && flagged.insert(t.as_str()) {
                report
                    .discrepancies
                    .push(Discrepancy::NeverSent { text: t.clone() });
            }
        }
        // Order: the server's first copies follow the order the texts were sent.
        let mut seen = BTreeSet::new();
        let mut last: Option<usize> = None;
        for t in at_server {
            if !seen.insert(t.as_str()) {
                continue;
            }
            let Some(pos) = visitor.texts.iter().position(|(_, x)| x == t) else {
                continue;
            };
            if last.is_some_and(|l| pos < l) {
                report
                    .discrepancies
                    .push(Discrepancy::VisitorOutOfOrder { text: t.clone() });
            }
            last = Some(last.map_or(pos, |l| l.max(pos)));
        }

        // Agent -> visitor: what the application got is what the agent said, in order, each once.
        let mut agent_ok = true;
        for (index, text) in received.iter().enumerate() {
            let expected = emitted.get(index);
            if expected.map(String::as_str) != Some(*text) {
                report.discrepancies.push(Discrepancy::AgentMismatch {
                    index,
                    received: (*text).to_owned(),
                    expected: expected.cloned(),
                });
                agent_ok = false;
                break;
            }
        }
        // When the final message (ChatEnded / ChatRequestFail) reached the application, so did every agent
        // text before it.
        let through_final = matches!(
            report.ended,
            Some(EndReason::AgentEnded { .. })
                | Some(EndReason::RequestFailed { .. })
                | Some(EndReason::VisitorEnded {
                    attached_records: Some(_)
                })
        );
        if agent_ok && through_final {
            for (index, text) in emitted.iter().enumerate().skip(received.len()) {
                report.discrepancies.push(Discrepancy::AgentMissing {
                    index,
                    text: text.clone(),
                });
            }
        }
        report
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Delivered,
    Uncertain,
    Undelivered,
}

/// The outcome of [`Pair::check_delivery`]. `Display` renders it readably (for snapshots).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
#[must_use = "look at `is_clean()` or the discrepancies"]
pub struct DeliveryReport {
    /// Visitor texts sent through [`Pair::send_message`].
    pub sent: usize,
    /// Visitor texts the server accepted (its record, retransmissions not repeated).
    pub accepted_by_server: usize,
    /// Agent texts the server emitted.
    pub agent_emitted: usize,
    /// Agent texts the application got.
    pub agent_received: usize,
    /// How the session ended, if it did.
    pub ended: Option<EndReason>,
    /// What is wrong. Empty when the chat delivered what it should.
    pub discrepancies: Vec<Discrepancy>,
    /// What is allowed but suspicious (not counted by [`is_clean`](Self::is_clean)).
    pub notes: Vec<DeliveryNote>,
}

impl DeliveryReport {
    /// True when there is no discrepancy.
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

impl fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "visitor texts: {} sent, {} accepted by the server; agent texts: {} emitted, {} received",
            self.sent, self.accepted_by_server, self.agent_emitted, self.agent_received
        )?;
        match &self.ended {
            Some(r) => writeln!(f, "ended: {r}")?,
            None => writeln!(f, "not ended")?,
        }
        if self.discrepancies.is_empty() {
            writeln!(f, "clean")?;
        }
        for d in &self.discrepancies {
            writeln!(f, "DISCREPANCY: {d}")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

/// Something the application was told (or not told) that contradicts the simulator's record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discrepancy {
    /// The session reported the text [`Event::Delivered`], but the server never accepted it.
    DeliveredButMissing {
        /// The text.
        text: String,
    },
    /// The server accepted the text more than once and the session did not name it in
    /// [`Event::DeliveryUncertain`], or it is there more often than that allows: twice, or once per attempt
    /// whose outcome was unknown plus one (a server that processes re-sent sequence numbers again).
    Duplicated {
        /// The text.
        text: String,
        /// How many times the server has it.
        times: usize,
    },
    /// The session reported the text [`Event::Undelivered`], but the server has it.
    UndeliveredButArrived {
        /// The text.
        text: String,
        /// How many times the server has it.
        times: usize,
    },
    /// The session ended without saying what became of the text (no Delivered, DeliveryUncertain or
    /// Undelivered).
    NoVerdict {
        /// The text.
        text: String,
        /// How many times the server has it.
        times: usize,
    },
    /// The session gave the text more than one verdict (Delivered, DeliveryUncertain, Undelivered): each
    /// command gets exactly one.
    VerdictTwice {
        /// The text.
        text: String,
    },
    /// The server holds a text the application never sent through the pair.
    NeverSent {
        /// The text.
        text: String,
    },
    /// The server got this text before one the application sent earlier.
    VisitorOutOfOrder {
        /// The text.
        text: String,
    },
    /// The `index`-th agent text the application got is not the `index`-th the agent said: a duplicate, a
    /// reordering, a gap or an invented text.
    AgentMismatch {
        /// Position among the texts the application got.
        index: usize,
        /// What the application got.
        received: String,
        /// What the agent said at that position (`None`: nothing more).
        expected: Option<String>,
    },
    /// The chat ended through the server's final message, yet the application never got this agent text.
    AgentMissing {
        /// Position among the texts the agent said.
        index: usize,
        /// The text.
        text: String,
    },
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discrepancy::DeliveredButMissing { text } => write!(
                f,
                "\"{}\" was reported Delivered but the server never accepted it",
                LogSafe(text)
            ),
            Discrepancy::Duplicated { text, times } => {
                write!(f, "the server accepted \"{}\" {times} times", LogSafe(text))
            }
            Discrepancy::UndeliveredButArrived { text, times } => write!(
                f,
                "\"{}\" was reported Undelivered but the server accepted it {times} time(s)",
                LogSafe(text)
            ),
            Discrepancy::NoVerdict { text, times } => write!(
                f,
                "the session ended without a verdict on \"{}\" (the server has it {times} time(s))",
                LogSafe(text)
            ),
            Discrepancy::VerdictTwice { text } => write!(
                f,
                "the session gave \"{}\" more than one delivery verdict",
                LogSafe(text)
            ),
            Discrepancy::NeverSent { text } => write!(
                f,
                "the server holds \"{}\", which the application never sent",
                LogSafe(text)
            ),
            Discrepancy::VisitorOutOfOrder { text } => {
                write!(f, "the server got \"{}\" out of order", LogSafe(text))
            }
            Discrepancy::AgentMismatch {
                index,
                received,
                expected,
            } => write!(
                f,
                "agent text #{index}: the application got \"{}\", the agent said {}",
                LogSafe(received),
                OptText(expected.as_deref())
            ),
            Discrepancy::AgentMissing { index, text } => write!(
                f,
                "agent text #{index} \"{}\" never reached the application, though the chat ended through the final message",
                LogSafe(text)
            ),
        }
    }
}

/// An optional text for `Display`: quoted and log-safe, or `nothing`.
struct OptText<'a>(Option<&'a str>);

impl fmt::Display for OptText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, "\"{}\"", LogSafe(t)),
            None => f.write_str("nothing"),
        }
    }
}

/// Allowed by the delivery contract, but worth a look.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryNote {
    /// The session reported the text [`Event::DeliveryUncertain`], though every POST that carried it got a
    /// definite answer (no answer lost, abandoned or 5xx).
    NeedlessUncertainty {
        /// The text.
        text: String,
        /// How many times the server has it.
        times: usize,
    },
    /// The session reported the text [`Event::Delivered`], but the server had answered its POST 200 as a
    /// retransmission of a sequence number a `SequenceDrift` skipped and never processed it
    /// ([`SessionRecord::lost_to_drift`](crate::sim::SessionRecord::lost_to_drift)): the drift's 409 never
    /// reached the session, and the protocol has no other signal.
    LostToUnseenDrift {
        /// The text.
        text: String,
    },
}

impl fmt::Display for DeliveryNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryNote::NeedlessUncertainty { text, times } => write!(
                f,
                "\"{}\" was reported DeliveryUncertain though every POST carrying it was answered (the server has it {times} time(s))",
                LogSafe(text)
            ),
            DeliveryNote::LostToUnseenDrift { text } => write!(
                f,
                "\"{}\" was reported Delivered but lost: the server took its sequence number, which a drift skipped, for a retransmission (the drift's 409 never reached the session)",
                LogSafe(text)
            ),
        }
    }
}

/// The ChatMessage texts a POST carries (single noun or MultiNoun).
pub(super) fn texts_of(path: &str, body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let text = |o: &serde_json::Value| o.get("text").and_then(|t| t.as_str()).map(str::to_owned);
    if path.ends_with("/Chasitor/ChatMessage") {
        return text(&v).into_iter().collect();
    }
    if path.ends_with("/System/MultiNoun") {
        return v
            .get("nouns")
            .and_then(|n| n.as_array())
            .map(|nouns| {
                nouns
                    .iter()
                    .filter(|n| n.get("noun").and_then(|x| x.as_str()) == Some("ChatMessage"))
                    .filter_map(|n| n.get("object").and_then(text))
                    .collect()
            })
            .unwrap_or_default();
    }
    Vec::new()
}
