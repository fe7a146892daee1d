//! Recovery rules that must hold under every plausible reading of the server (spec §10, §12):
//! the 409 `Out of sync` ladder and the transcript check that drops re-sends the server already holds.

use crate::wire::TranscriptEntry;

/// The sequence number to re-send with after a 409 `Out of sync Ack. Expected N. Actual M` answered a POST
/// that carried `sent`.
///
/// Nobody knows what `Actual` means (spec §4.4, field evidence §3): CARBON reads it as the last number the
/// server accepted (re-send `M + 1`), LINE as the next one it expects (re-send `M`). `M + 1` is right under the
/// first reading, and under the second when the server merely wants increasing numbers, so it goes first. When
/// `M + 1` itself was refused with that `Actual`, the first reading is ruled out (it would have taken `M + 1`),
/// so the server wants exactly `M`, and `M` cannot be a duplicate. Stateless, so it survives a restart; the
/// caller bounds the attempts with the retry budget.
pub(super) fn out_of_sync_next(sent: u64, actual: i64) -> u64 {
    // A negative (nonsense) Actual restarts the numbering at 1.
    let m = u64::try_from(actual).unwrap_or(0);
    let plus_one = m.saturating_add(1);
    if sent == plus_one { m.max(1) } else { plus_one }
}

/// Whether the transcript of a ChasitorSessionData (`chatMessages`) shows that the server holds a batch whose
/// visitor texts are `texts` (in order), given that `confirmed` visitor texts were confirmed delivered before.
///
/// The session has one POST in flight at a time, so a batch the server took is the tail of the visitor
/// (`Chasitor`) entries. `Some(true)`: the tail matches and the transcript is long enough to hold the batch on
/// top of what was confirmed. `Some(false)`: the transcript holds at least everything confirmed and its tail
/// is not the batch. `None`: no texts to look for, or a transcript shorter than what was confirmed (it is
/// incomplete, so it proves nothing).
pub(super) fn transcript_holds(
    texts: &[&str],
    confirmed: u64,
    entries: &[TranscriptEntry],
) -> Option<bool> {
    if texts.is_empty() {
        return None;
    }
    let visitor: Vec<&str> = entries
        .iter()
        .filter(|e| {
            e.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("Chasitor"))
        })
        .map(|e| e.content.as_deref().unwrap_or(""))
        .collect();
    let n = u64::try_from(visitor.len()).unwrap_or(u64::MAX);
    let k = u64::try_from(texts.len()).unwrap_or(u64::MAX);
    if n < confirmed {
        return None;
    }
    let tail_matches = visitor.len() >= texts.len()
        && visitor
            .get(visitor.len() - texts.len()..)
            .is_some_and(|tail| tail == texts);
    match (tail_matches, n >= confirmed.saturating_add(k)) {
        (true, true) => Some(true),
        (true, false) => None,
        (false, _) => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, text: &str) -> TranscriptEntry {
        TranscriptEntry {
            kind: Some(kind.into()),
            content: Some(text.into()),
            ..TranscriptEntry::default()
        }
    }

    #[test]
    fn ladder_tries_m_plus_one_then_m() {
        assert_eq!(out_of_sync_next(3, 7), 8);
        assert_eq!(out_of_sync_next(8, 7), 7);
        assert_eq!(out_of_sync_next(7, 7), 8);
        assert_eq!(out_of_sync_next(8, 9), 10);
        assert_eq!(out_of_sync_next(2, -5), 1);
        assert_eq!(out_of_sync_next(1, 0), 1);
        assert_eq!(out_of_sync_next(1, i64::MAX), 1 << 63);
    }

    #[test]
    fn transcript_tail_decides() {
        let log = [
            entry("Agent", "Hi"),
            entry("Chasitor", "a"),
            entry("Agent", "ok"),
            entry("Chasitor", "b"),
        ];
        assert_eq!(transcript_holds(&["b"], 1, &log), Some(true));
        assert_eq!(transcript_holds(&["a", "b"], 0, &log), Some(true));
        assert_eq!(transcript_holds(&["c"], 2, &log), Some(false));
        // "b" twice: the second "b" is not there yet.
        assert_eq!(transcript_holds(&["b"], 2, &log), None);
        // Shorter than what was confirmed: proves nothing.
        assert_eq!(transcript_holds(&["c"], 3, &log), None);
        assert_eq!(transcript_holds(&[], 0, &log), None);
        assert_eq!(transcript_holds(&["a"], 0, &[]), Some(false));
    }
}
