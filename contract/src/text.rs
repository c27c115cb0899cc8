//! Text as it may be kept and shown: stored strings can come straight from
//! a refused request, so they must not move a terminal's cursor, retitle
//! its window, fake lines or reorder what is read (Trojan Source).

/// Characters that reorder text on a terminal: never accepted in names and
/// never printed raw.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control and bidi characters escaped (`\u{1b}`), cut to
/// `max_chars` with a marker when that is given.
pub fn printable(text: &str, max_chars: Option<usize>) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if Some(count) == max_chars {
            out.push_str("…(cut)");
            break;
        }
        if c.is_control() || is_bidi_control(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_and_cuts() {
        assert_eq!(
            printable("a\u{1b}[2Jb\u{202e}", None),
            "a\\u{1b}[2Jb\\u{202e}"
        );
        assert_eq!(printable("abcdef", Some(3)), "abc…(cut)");
        assert_eq!(printable("jörg", Some(4)), "jörg");
    }
}
