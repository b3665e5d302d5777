//! [`CalendarSpec`]: one systemd `OnCalendar=` value.

use super::{shown, string_value, InvalidValue};

/// One calendar event in systemd.time(7) syntax (`*-*-* 03:30:00`, `daily`, `Mon..Fri 18:00`,
/// `*-*-* 04:00:00 Europe/Berlin`), as one `OnCalendar=` value of a timer unit.
///
/// Only the characters that syntax uses are accepted — letters, digits, space and `*:-.,/~_+`
/// — so a value can neither end the line (CR, LF, NUL), continue it (a trailing `\`), quote,
/// nor carry a second setting. Whether systemd understands the expression is checked by
/// `systemd-analyze calendar` in the tests, not here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CalendarSpec(String);

/// Longest accepted expression.
const MAX: usize = 256;

impl CalendarSpec {
    /// `s` as a calendar expression.
    ///
    /// # Errors
    /// When `s` is empty, too long, padded with spaces or holds a character systemd.time does
    /// not use.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| {
            InvalidValue(format!(
                "{} is not a systemd calendar expression (e.g. `*-*-* 03:30:00` or `daily`): {why}",
                shown(s)
            ))
        };
        if s.trim().is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX {
            return Err(bad(&format!("it is longer than {MAX} characters")));
        }
        if s.starts_with(' ') || s.ends_with(' ') || s.contains("  ") {
            return Err(bad("it has leading, trailing or doubled spaces"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || " *:-.,/~_+".contains(*c)))
        {
            return Err(bad(&format!(
                "{} is not used in calendar expressions (letters, digits, spaces and `*:-.,/~_+` are)",
                super::escape_controls(&format!("`{c}`"))
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(CalendarSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_on_calendar_value() {
        for ok in [
            "*-*-* 03:30:00",
            "daily",
            "Mon..Fri 18:00",
            "*:0/5",
            "Sat *-*-* 05:00:00",
            "*-*-* 04:00:00 Europe/Berlin",
            "*-*~03",
        ] {
            assert!(CalendarSpec::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " ",
            "daily\nPersistent=false",
            "daily\rExecStart=/bin/sh",
            "daily\0",
            "daily\\",
            "daily ",
            "'daily'",
            "\"daily\"",
            "daily; reboot",
            "%h",
            "$X",
        ] {
            assert!(CalendarSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
