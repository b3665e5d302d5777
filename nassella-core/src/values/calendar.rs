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
        if !shape(s) {
            return Err(bad(
                "write `[weekdays] [date] [time] [timezone]` (e.g. `Mon..Fri *-*-* 18:00:00 Europe/Berlin`) or one of minutely, hourly, daily, weekly, monthly, quarterly, semiannually, yearly, annually",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(CalendarSpec);

const SHORTHANDS: [&str; 9] = [
    "minutely",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "yearly",
    "annually",
];

const WEEKDAYS: [&str; 14] = [
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The shape of systemd.time's calendar events: a shorthand alone, or in order an optional
/// weekday list (`Mon,Wed..Fri`), an optional date (`*-*-1`, `2025-01-01`, `*-02~03`), an optional
/// time (`03:30`, `*:0/15`) and an optional time zone (`UTC`, `Europe/Berlin`), at least one of
/// the first three. Numbers and ranges are checked by systemd itself (and `systemd-analyze
/// calendar` in the tests).
fn shape(s: &str) -> bool {
    if SHORTHANDS.contains(&s.to_ascii_lowercase().as_str()) {
        return true;
    }
    let mut tokens = s.split(' ').peekable();
    let mut parts = 0;
    if let Some(t) = tokens.peek() {
        let days = t.split(',').all(|item| {
            item.split("..")
                .all(|d| WEEKDAYS.contains(&d.to_ascii_lowercase().as_str()))
        });
        if days {
            tokens.next();
            parts += 1;
        }
    }
    let numeric = |t: &str, sep: char, extra: &str| {
        t.contains(sep)
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == sep || "*,./".contains(c) || extra.contains(c))
    };
    if tokens.peek().is_some_and(|t| numeric(t, '-', "~")) {
        tokens.next();
        parts += 1;
    }
    if tokens.peek().is_some_and(|t| numeric(t, ':', "")) {
        tokens.next();
        parts += 1;
    }
    if let Some(t) = tokens.peek() {
        let zone = t.starts_with(|c: char| c.is_ascii_alphabetic())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if zone && parts > 0 {
            tokens.next();
        }
    }
    parts > 0 && tokens.next().is_none()
}

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
            "Mon,Wed..Fri",
            "2025-01-01",
            "03:30",
            "Hourly",
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
            "daily:latest",
            "daily daily",
            "03:30 04:30",
            "Europe/Berlin",
            "x",
            "--daily",
        ] {
            assert!(CalendarSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
