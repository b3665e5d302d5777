//! [`Line`]: one line of text without control characters.

use super::{shown, string_value, InvalidValue};

/// Longest [`Line`], in bytes: far more than any setting needs, short enough that no artifact
/// grows past its limits because of one value.
pub const MAX_LINE: usize = 4096;

/// True for C0 controls (NUL, tab, CR, LF, ESC…), DEL, C1 controls and the Unicode line and
/// paragraph separators: characters that can end a line, hide text or drive a terminal.
#[must_use]
pub fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `s` with every control character written as `\n`, `\r`, `\t`, `\0` or `\u{…}`, so it can be
/// printed on a terminal or in a message without clearing the screen or forging a line.
#[must_use]
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// One line of text: at most [`MAX_LINE`] bytes, no control characters (see [`is_control`]).
/// The base of every single-line setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Line(pub(crate) String);

impl Line {
    /// `s` as a line.
    ///
    /// # Errors
    /// When `s` holds a control character or is longer than [`MAX_LINE`] bytes.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        check_line(s)?;
        Ok(Self(s.to_owned()))
    }
}
string_value!(Line);

/// The checks of [`Line`], for the other types.
pub(crate) fn check_line(s: &str) -> Result<(), InvalidValue> {
    if let Some(c) = s.chars().find(|c| is_control(*c)) {
        return Err(InvalidValue(format!(
            "{} holds the control character {}, which no setting may contain",
            shown(s),
            escape_controls(&c.to_string())
        )));
    }
    if s.len() > MAX_LINE {
        return Err(InvalidValue(format!(
            "the value is {} bytes long; at most {MAX_LINE} are allowed",
            s.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_escapes_them_for_display() {
        assert!(Line::parse("plain text, with ünïcode").is_ok());
        for bad in [
            "a\nb",
            "a\rb",
            "a\0b",
            "\u{1b}[2J",
            "a\u{7f}",
            "a\u{85}",
            "a\u{2028}b",
        ] {
            let e = Line::parse(bad).unwrap_err();
            assert!(!e.reason().chars().any(is_control), "{e:?}");
        }
        assert_eq!(escape_controls("a\n\r\t\0\u{1b}"), "a\\n\\r\\t\\0\\u{1b}");
        assert!(Line::parse(&"x".repeat(MAX_LINE + 1)).is_err());
    }
}
