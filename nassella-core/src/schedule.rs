//! The backup window against Flatcar's reboot window: an update reboot during a backup kills it
//! (and, during the stopped pass, restarts the server with its apps stopped mid-backup). The
//! composer refuses schedules that overlap.
//!
//! A backup run is bounded: the whole `nassella-backup.service` run by [`BACKUP_LIMIT_MIN`]
//! (the unit's `TimeoutStartSec=`), and inside it the stopped pass by [`STOPPED_PASS_LIMIT_MIN`]
//! (a `timeout` in `backup.sh`, after which the apps start again and the failure is reported).
//! So a backup starting at `t` is over by `t + BACKUP_LIMIT_MIN`, and that is the window checked.
//!
//! Both sides are weekly-periodic, so the check works on minutes of the week (Monday 00:00 = 0).
//! It understands the calendar expressions people write for a daily or weekly job
//! (`*-*-* 03:30:00`, `Mon..Fri 02:00`, `Sat,Sun 01:15 UTC`, `daily`, `weekly`); for any other
//! systemd calendar expression it cannot tell and warns instead.

use crate::problem::ProblemKind as P;
use crate::report::Report;
use crate::stack::{Backup, Updates};

/// The time limit of the stopped pass, in minutes.
pub const STOPPED_PASS_LIMIT_MIN: u32 = 30;
/// The time limit of a whole backup run (warm-up, stopped pass, forget), in minutes.
pub const BACKUP_LIMIT_MIN: u32 = 120;

const WEEK: u32 = 7 * 24 * 60;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn day(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    (0..7u32).find(|&i| DAYS[i as usize] == s || DAY_NAMES[i as usize] == s)
}

/// `HH:MM` or `HH:MM:SS` → minute of the day (seconds dropped).
fn time_of_day(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let num = |p: Option<&str>, max: u32| -> Option<u32> {
        let p = p?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|v| *v <= max)
    };
    let h = num(parts.next(), 23)?;
    let m = num(parts.next(), 59)?;
    if let Some(sec) = parts.next() {
        num(Some(sec), 59)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(h * 60 + m)
}

/// `Mon`, `Mon..Fri`, `Sat,Sun`, `Mon,Wed..Fri` → the days.
fn weekdays(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b) = (day(a)?, day(b)?);
            if a > b {
                return None;
            }
            out.extend(a..=b);
        } else {
            out.push(day(part)?);
        }
    }
    Some(out)
}

/// Start minutes (of the week) of an `OnCalendar=` expression, if it is one this module reads.
fn calendar_starts(spec: &str) -> Option<Vec<u32>> {
    let spec = spec.trim();
    let (days, minute) = match spec {
        "daily" => ((0..7).collect(), 0),
        "weekly" => (vec![0], 0),
        _ => {
            let mut tokens: Vec<&str> = spec.split_whitespace().collect();
            if tokens.last() == Some(&"UTC") {
                tokens.pop();
            }
            let time = time_of_day(tokens.pop()?)?;
            if tokens.last() == Some(&"*-*-*") {
                tokens.pop();
            }
            let days = match tokens.as_slice() {
                [] => (0..7).collect(),
                [d] => weekdays(d)?,
                _ => return None,
            };
            (days, time)
        }
    };
    Some(days.into_iter().map(|d| d * 24 * 60 + minute).collect())
}

/// locksmithd's window start (`Sun 04:00`, or `04:00` for every day) → start minutes.
fn window_starts(start: &str) -> Option<Vec<u32>> {
    let tokens: Vec<&str> = start.split_whitespace().collect();
    let (days, time) = match tokens.as_slice() {
        [t] => ((0..7).collect::<Vec<_>>(), time_of_day(t)?),
        [d, t] => (vec![day(d)?], time_of_day(t)?),
        _ => return None,
    };
    Some(days.into_iter().map(|d| d * 24 * 60 + time).collect())
}

/// A Go duration as locksmithd reads it (`1h`, `30m`, `1h30m`, `2h0m0s`) → whole minutes.
fn duration_min(s: &str) -> Option<u32> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut seen = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => return None,
        };
        seen = true;
    }
    if !num.is_empty() || !seen {
        return None;
    }
    u32::try_from(total.div_ceil(60)).ok()
}

/// Whether `[a, a+la)` and `[b, b+lb)` meet on the circular week.
fn overlaps(a: u32, la: u32, b: u32, lb: u32) -> bool {
    (b + WEEK - a) % WEEK < la || (a + WEEK - b) % WEEK < lb
}

fn clock(week_minute: u32) -> String {
    let m = week_minute % WEEK;
    let d = DAYS[(m / (24 * 60)) as usize];
    let d = format!("{}{}", d[..1].to_ascii_uppercase(), &d[1..]);
    format!("{d} {:02}:{:02}", (m / 60) % 24, m % 60)
}

/// Refuse a backup schedule whose window meets the reboot window; warn when the schedule is not
/// one this check can read.
pub(crate) fn check_backup_window(b: &Backup, updates: &Updates, r: &mut Report) {
    let o = Some(&b.origin);
    if b.on_calendar.trim().is_empty() || b.on_calendar.contains(['\n', '\'', '"']) {
        return; // not a calendar expression: the composer reports that already
    }
    let Some(starts) = calendar_starts(&b.on_calendar) else {
        r.warn(
            "backup.on_calendar",
            o,
            P::InvalidBackup(format!(
                "cannot tell whether `{}` meets Flatcar's reboot window ({} for {}): write it as `[Mon..Sun] HH:MM` (or `*-*-* HH:MM:SS`) to have it checked, and make sure a backup ({} min at most) never runs into that window",
                b.on_calendar, updates.window_start, updates.window_length, BACKUP_LIMIT_MIN
            )),
        );
        return;
    };
    let (Some(windows), Some(length)) = (
        window_starts(&updates.window_start),
        duration_min(&updates.window_length),
    ) else {
        r.error(
            "instance.reboot_window_start",
            None,
            P::InvalidBackup(format!(
                "cannot read the reboot window `{}` for `{}`: write the start as `Sun 04:00` (or `04:00` for every day) and the length as `1h` or `30m`",
                updates.window_start, updates.window_length
            )),
        );
        return;
    };
    for &s in &starts {
        for &w in &windows {
            if overlaps(s, BACKUP_LIMIT_MIN, w, length) {
                r.error(
                    "backup.on_calendar",
                    o,
                    P::InvalidBackup(format!(
                        "the backup at `{}` (the run starting {} may last until {}: {} min at most, its stopped pass {} min) overlaps Flatcar's reboot window `{}` for `{}` (instance.reboot_window_start/_length), and an update reboot would kill it; move the backup or the reboot window",
                        b.on_calendar,
                        clock(s),
                        clock(s + BACKUP_LIMIT_MIN),
                        BACKUP_LIMIT_MIN,
                        STOPPED_PASS_LIMIT_MIN,
                        updates.window_start,
                        updates.window_length,
                    )),
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_expressions() {
        assert_eq!(
            calendar_starts("*-*-* 03:30:00"),
            Some((0..7).map(|d| d * 1440 + 210).collect())
        );
        assert_eq!(calendar_starts("Sun 04:00 UTC"), Some(vec![6 * 1440 + 240]));
        assert_eq!(
            calendar_starts("Mon..Wed,Fri 01:05"),
            Some(vec![65, 1440 + 65, 2880 + 65, 4 * 1440 + 65])
        );
        assert_eq!(calendar_starts("weekly"), Some(vec![0]));
        for unreadable in [
            "hourly",
            "*-*-01 03:00",
            "03,15:00",
            "Fri..Mon 03:00",
            "25:00",
        ] {
            assert_eq!(calendar_starts(unreadable), None, "{unreadable}");
        }
    }

    #[test]
    fn durations_and_windows() {
        assert_eq!(duration_min("1h"), Some(60));
        assert_eq!(duration_min("1h30m"), Some(90));
        assert_eq!(duration_min("2h0m0s"), Some(120));
        assert_eq!(duration_min("90s"), Some(2));
        assert_eq!(duration_min("1x"), None);
        assert_eq!(duration_min("10"), None);
        assert_eq!(window_starts("Sun 04:00"), Some(vec![6 * 1440 + 240]));
        assert_eq!(window_starts("04:00").map(|v| v.len()), Some(7));
        assert_eq!(window_starts("Someday 04:00"), None);
    }

    #[test]
    fn overlap_on_the_circular_week() {
        // Sun 23:30 + 2 h meets Mon 00:30.
        assert!(overlaps(6 * 1440 + 1410, 120, 30, 60));
        // Back to back is not an overlap.
        assert!(!overlaps(0, 120, 120, 60));
        assert!(overlaps(0, 121, 120, 60));
        // The window before the backup.
        assert!(overlaps(240, 120, 200, 60));
        assert!(!overlaps(240, 120, 180, 60));
    }
}
