//! [`RebootWindowStart`] and [`RebootWindowLength`]: Flatcar's reboot window in `update.conf`.

use super::{shown, string_value, InvalidValue};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// When Flatcar's weekly (or daily) reboot window opens, as locksmithd reads
/// `LOCKSMITHD_REBOOT_WINDOW_START`: an optional three-letter English weekday and a 24-hour
/// `HH:MM` time (`Sun 04:00`, `22:30`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RebootWindowStart(String);

impl RebootWindowStart {
    /// `s` as a window start.
    ///
    /// # Errors
    /// When `s` is not `[Day ]HH:MM`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = || {
            InvalidValue(format!(
                "{} is not a reboot window start: write an optional weekday (Mon … Sun) and a 24-hour time, e.g. `Sun 04:00` or `22:30`",
                shown(s)
            ))
        };
        let time = match s.split_once(' ') {
            Some((day, time)) if DAYS.contains(&day) => time,
            Some(_) => return Err(bad()),
            None => s,
        };
        let (h, m) = time.split_once(':').ok_or_else(bad)?;
        let two_digits = |t: &str, max: u8| {
            t.len() == 2
                && t.bytes().all(|b| b.is_ascii_digit())
                && t.parse::<u8>().is_ok_and(|n| n <= max)
        };
        if !(two_digits(h, 23) && two_digits(m, 59)) {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(RebootWindowStart);

/// How long the reboot window stays open, as a Go duration locksmithd reads
/// (`LOCKSMITHD_REBOOT_WINDOW_LENGTH`): numbers with units `h`, `m` or `s`, e.g. `1h`, `1h30m`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RebootWindowLength(String);

impl RebootWindowLength {
    /// `s` as a window length.
    ///
    /// # Errors
    /// When `s` is not a positive duration of `h`, `m` and `s` parts.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = || {
            InvalidValue(format!(
                "{} is not a reboot window length: write a duration such as `1h`, `90m` or `1h30m` (units h, m, s)",
                shown(s)
            ))
        };
        if s.is_empty() || s.len() > 32 {
            return Err(bad());
        }
        let mut digits = String::new();
        let mut total: u64 = 0;
        for c in s.chars() {
            match c {
                '0'..='9' => digits.push(c),
                'h' | 'm' | 's' if !digits.is_empty() => {
                    let n: u64 = digits.parse().map_err(|_| bad())?;
                    let unit = match c {
                        'h' => 3600,
                        'm' => 60,
                        _ => 1,
                    };
                    total = n
                        .checked_mul(unit)
                        .and_then(|x| total.checked_add(x))
                        .ok_or_else(bad)?;
                    digits.clear();
                }
                _ => return Err(bad()),
            }
        }
        // Go durations are int64 nanoseconds: about 292 years.
        if !digits.is_empty() || total == 0 || total > 9_000_000_000 {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(RebootWindowLength);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locksmith_window() {
        for ok in ["Sun 04:00", "22:30", "Mon 00:00"] {
            assert!(RebootWindowStart::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Sun",
            "Sun 4:00",
            "Sun 24:00",
            "Sunday 04:00",
            "Sun 04:00\nREBOOT_STRATEGY=off",
            "04:00\r",
            "04:00\0",
        ] {
            assert!(RebootWindowStart::parse(bad).is_err(), "{bad:?}");
        }
        for ok in ["1h", "90m", "1h30m", "45s"] {
            assert!(RebootWindowLength::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "h",
            "0h",
            "1h\nSERVER=x",
            "1d",
            "-1h",
            "99999999999999999999h",
        ] {
            assert!(RebootWindowLength::parse(bad).is_err(), "{bad:?}");
        }
    }
}
