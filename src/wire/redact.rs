//! Hiding the session key and affinity token in text quoted from the server, the one place it is done.
//!
//! The rule: no run of [`MIN_SECRET_RUN`] (8) or more consecutive characters of a secret survives, compared
//! case-insensitively after percent-decoding (`%21`), JSON and Rust unescaping (`\u0021`, `\u{21}`, `\/`),
//! HTML character references (`&#33;`, `&#x21;`, `&amp;`), and with line breaks, other whitespace, control and
//! invisible format characters, and markup (`<wbr>`, `<br/>`, `<span class=x>`) between its characters
//! ignored. A server (or a proxy's error page) that echoes a key with its case changed, encoded, or split
//! across lines still gets `<redacted>` in the error text an application logs. Pieces of at least
//! [`MIN_SECRET_PIECE`] characters cut off at either end of the text (a snippet's window) are hidden too.

use std::collections::HashSet;

/// What a redacted secret reads as in error text.
pub(crate) const REDACTED: &str = "<redacted>";

/// The shortest run of a secret's characters that counts as the secret (shorter secrets: all of it).
pub(crate) const MIN_SECRET_RUN: usize = 8;

/// Shortest piece of a secret, at either end of the text, taken for a secret cut off by a snippet's bounds
/// (shorter pieces match too much ordinary text to be worth hiding).
const MIN_SECRET_PIECE: usize = 4;

/// Longest markup tag skipped as a separator, in characters.
const MAX_TAG: usize = 64;

/// How many times the text is decoded (a percent-encoded JSON escape needs two).
const DECODE_PASSES: usize = 4;

/// A character as a reader of the text would see it, and the bytes of the original text it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decoded {
    c: char,
    start: usize,
    end: usize,
}

/// Replaces, in `text`, every run of a secret that the rule in the module docs finds with [`REDACTED`]. Text
/// between two redacted characters (a line break, a tag, an escape) goes with them.
pub(crate) fn redact_secrets(text: &mut String, secrets: &[&str]) {
    let raw: Vec<Decoded> = text
        .char_indices()
        .map(|(i, c)| Decoded {
            c: c.to_ascii_lowercase(),
            start: i,
            end: i + c.len_utf8(),
        })
        .collect();
    let decoded = decode(raw.clone());
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for secret in secrets.iter().copied().filter(|s| !s.is_empty()) {
        let plain: Vec<char> = secret.chars().map(|c| c.to_ascii_lowercase()).collect();
        let secret_decoded: Vec<char> = decode(
            secret
                .char_indices()
                .map(|(i, c)| Decoded {
                    c: c.to_ascii_lowercase(),
                    start: i,
                    end: i + c.len_utf8(),
                })
                .collect(),
        )
        .iter()
        .map(|d| d.c)
        .collect();
        mark_runs(&raw, &plain, &mut spans);
        mark_runs(&decoded, &plain, &mut spans);
        if secret_decoded != plain {
            mark_runs(&decoded, &secret_decoded, &mut spans);
        }
        mark_cut_pieces(&decoded, &plain, &mut spans);
    }
    if spans.is_empty() {
        return;
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    for &(start, end) in merged.iter().rev() {
        if text.is_char_boundary(start) && text.is_char_boundary(end) && start < end {
            text.replace_range(start..end, REDACTED);
        }
    }
}

/// Marks every window of `min(MIN_SECRET_RUN, len)` characters of `view` that is also a window of `secret`;
/// consecutive marked characters become one span of the original text, separators included.
fn mark_runs(view: &[Decoded], secret: &[char], spans: &mut Vec<(usize, usize)>) {
    let run = secret.len().min(MIN_SECRET_RUN);
    if run == 0 || view.len() < run {
        return;
    }
    let windows: HashSet<&[char]> = secret.windows(run).collect();
    let chars: Vec<char> = view.iter().map(|d| d.c).collect();
    let mut marked = vec![false; view.len()];
    for (i, w) in chars.windows(run).enumerate() {
        if windows.contains(w) {
            for m in marked.iter_mut().skip(i).take(run) {
                *m = true;
            }
        }
    }
    push_marked(view, &marked, spans);
}

/// Marks a start of `secret` at the end of `view` and an end of it at the start, of at least
/// [`MIN_SECRET_PIECE`] characters: a secret cut by the bounds of a snippet.
fn mark_cut_pieces(view: &[Decoded], secret: &[char], spans: &mut Vec<(usize, usize)>) {
    let chars: Vec<char> = view.iter().map(|d| d.c).collect();
    let longest = secret.len().min(chars.len());
    let mut marked = vec![false; view.len()];
    if let Some(n) = (MIN_SECRET_PIECE..=longest)
        .rev()
        .find(|&n| chars.get(chars.len() - n..) == secret.get(..n))
    {
        for m in marked.iter_mut().skip(chars.len() - n) {
            *m = true;
        }
    }
    if let Some(n) = (MIN_SECRET_PIECE..=longest)
        .rev()
        .find(|&n| chars.get(..n) == secret.get(secret.len() - n..))
    {
        for m in marked.iter_mut().take(n) {
            *m = true;
        }
    }
    push_marked(view, &marked, spans);
}

fn push_marked(view: &[Decoded], marked: &[bool], spans: &mut Vec<(usize, usize)>) {
    let mut open: Option<(usize, usize)> = None;
    for (d, &m) in view.iter().zip(marked) {
        match (m, open.as_mut()) {
            (true, Some(span)) => span.1 = d.end,
            (true, None) => open = Some((d.start, d.end)),
            (false, Some(_)) => spans.extend(open.take()),
            (false, None) => {}
        }
    }
    spans.extend(open);
}

/// Decodes `items` until a pass changes nothing (at most [`DECODE_PASSES`] passes), dropping separators.
fn decode(mut items: Vec<Decoded>) -> Vec<Decoded> {
    for _ in 0..DECODE_PASSES {
        let next = decode_pass(&items);
        if next == items {
            break;
        }
        items = next;
    }
    items
}

/// Characters ignored between a secret's characters: whitespace, controls and invisible format characters.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c,
            '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn hex_value(items: &[Decoded]) -> Option<u32> {
    if items.is_empty() {
        return None;
    }
    items.iter().try_fold(0u32, |acc, d| {
        let v = d.c.to_digit(16)?;
        acc.checked_mul(16)?.checked_add(v)
    })
}

/// One decoding step at the start of `rest`: the character it reads as (`None`: a separator) and how many
/// items it takes; `None` when `rest` starts with no escape, reference or tag.
fn decode_one(rest: &[Decoded]) -> Option<(Option<char>, usize)> {
    let c = |i: usize| rest.get(i).map(|d| d.c);
    match c(0)? {
        '%' => {
            let v = hex_value(rest.get(1..3)?)?;
            let ch = if v < 0x80 {
                char::from_u32(v)
            } else {
                Some('\u{FFFD}')
            };
            Some((ch.filter(|&ch| !is_separator(ch)), 3))
        }
        '\\' => match c(1)? {
            'u' if c(2) == Some('{') => {
                let close = (3..rest.len().min(10)).find(|&i| c(i) == Some('}'))?;
                let v = hex_value(rest.get(3..close)?)?;
                let ch = char::from_u32(v).unwrap_or('\u{FFFD}');
                Some(((!is_separator(ch)).then_some(ch), close + 1))
            }
            'u' => {
                let v = hex_value(rest.get(2..6)?)?;
                let ch = char::from_u32(v).unwrap_or('\u{FFFD}');
                Some(((!is_separator(ch)).then_some(ch), 6))
            }
            q @ ('"' | '\\' | '/' | '\'') => Some((Some(q), 2)),
            'b' | 'f' | 'n' | 'r' | 't' | '0' => Some((None, 2)),
            _ => None,
        },
        '&' => {
            let semi = (2..rest.len().min(12)).find(|&i| c(i) == Some(';'))?;
            let name: String = rest.get(1..semi)?.iter().map(|d| d.c).collect();
            let ch = if let Some(num) = name.strip_prefix('#') {
                let v = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse::<u32>().ok()?,
                };
                char::from_u32(v).unwrap_or('\u{FFFD}')
            } else {
                match name.as_str() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    "shy" | "nbsp" | "zwsp" | "zwj" | "zwnj" => ' ',
                    _ => return None,
                }
            };
            Some(((!is_separator(ch)).then_some(ch), semi + 1))
        }
        '<' => {
            let first = if c(1) == Some('/') { 2 } else { 1 };
            if !c(first)?.is_ascii_alphabetic() {
                return None;
            }
            let close = (first..rest.len().min(MAX_TAG))
                .take_while(|&i| c(i) != Some('<'))
                .find(|&i| c(i) == Some('>'))?;
            Some((None, close + 1))
        }
        ch if is_separator(ch) => Some((None, 1)),
        _ => None,
    }
}

fn decode_pass(items: &[Decoded]) -> Vec<Decoded> {
    let mut out = Vec::with_capacity(items.len());
    let mut i = 0;
    while let Some(rest) = items.get(i..).filter(|r| !r.is_empty()) {
        match decode_one(rest) {
            Some((ch, taken)) => {
                if let (Some(ch), Some(first), Some(last)) =
                    (ch, rest.first(), rest.get(taken.saturating_sub(1)))
                {
                    out.push(Decoded {
                        c: ch.to_ascii_lowercase(),
                        start: first.start,
                        end: last.end,
                    });
                }
                i += taken.max(1);
            }
            None => {
                out.extend(rest.first().copied());
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str, secrets: &[&str]) -> String {
        let mut t = text.to_owned();
        redact_secrets(&mut t, secrets);
        t
    }

    #[test]
    fn whole_secrets_are_replaced_everywhere() {
        assert_eq!(
            redacted("bad key KEY123!, again KEY123!", &["KEY123!", "TOKEN"]),
            "bad key <redacted>, again <redacted>"
        );
        assert_eq!(redacted("nothing here", &["KEY123!"]), "nothing here");
        assert_eq!(redacted("empty secret", &[""]), "empty secret");
    }

    #[test]
    fn a_secret_cut_at_either_end_is_replaced() {
        // A snippet window that ends inside the key, and one that starts inside it.
        assert_eq!(
            redacted("session KEY1", &["KEY12345"]),
            "session <redacted>"
        );
        assert_eq!(
            redacted("2345 rejected", &["KEY12345"]),
            "<redacted> rejected"
        );
        // Pieces shorter than four bytes are left (they match ordinary text).
        assert_eq!(redacted("a KEY", &["KEY12345"]), "a KEY");
    }

    const KEY: &str = "Ab3!Cd4=Ef5!Gh6=Ij7";

    #[test]
    fn echoes_changed_in_case_encoded_or_split_are_replaced() {
        for echo in [
            "ab3!cd4=ef5!gh6=ij7",
            "Ab3%21Cd4%3DEf5%21Gh6%3DIj7",
            "Ab3\\u0021Cd4\\u003dEf5\\u0021Gh6\\u003DIj7",
            "Ab3!Cd4=\nEf5!Gh6=\r\nIj7",
            "Ab3!Cd4=\\nEf5!Gh6=Ij7",
            "Ab3!<wbr>Cd4=<wbr/>Ef5!<br>Gh6=Ij7",
            "Ab3&#33;Cd4&#x3d;Ef5!Gh6=Ij7",
            "Ab3%5Cu0021Cd4=Ef5!Gh6=Ij7",
            "Ab3\u{200B}!Cd4=Ef5!Gh6=Ij7",
        ] {
            let shown = redacted(&format!("error near {echo} here"), &[KEY]);
            assert_eq!(shown, "error near <redacted> here", "{echo:?}");
        }
        // Eight characters of it are the key; seven are not.
        assert_eq!(redacted("x Cd4=Ef5! y", &[KEY]), "x <redacted> y");
        assert_eq!(redacted("x Cd4=Ef5 y", &[KEY]), "x Cd4=Ef5 y");
    }

    #[test]
    fn nothing_around_an_echo_is_lost() {
        assert_eq!(
            redacted("a<b>c KEY12345 d&amp;e", &["KEY12345"]),
            "a<b>c <redacted> d&amp;e"
        );
    }
}
