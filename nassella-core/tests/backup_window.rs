//! The composer keeps the daily backup clear of Flatcar's reboot window (`src/schedule.rs`).

use nassella_core::schedule::{BACKUP_LIMIT_MIN, STOPPED_PASS_LIMIT_MIN};
use nassella_core::{
    compose, App, AppContext, Backup, Contribution, Instance, Route, Service, Stack, Updates,
    Upstream,
};

#[derive(Debug)]
struct Web;

impl App for Web {
    fn kind(&self) -> &str {
        "web"
    }
    fn id(&self) -> &str {
        "web"
    }
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(Service::new("web", "nginx:1.27.3").port(80));
        c.route(Route::new("web.example.com").proxy(Upstream::new("web", 80)));
        c
    }
}

fn stack(on_calendar: &str, window_start: &str, window_length: &str) -> Stack {
    Stack::new(Instance::new("family").updates(Updates {
        window_start: window_start.into(),
        window_length: window_length.into(),
    }))
    .backup(Backup::new("s3:s3.example.com/bucket/family").on_calendar(on_calendar))
    .app(Web)
}

fn problems(s: &Stack) -> Vec<String> {
    match compose(s) {
        Ok(v) => v
            .warnings()
            .problems()
            .iter()
            .map(ToString::to_string)
            .collect(),
        Err(r) => r.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_defaults_do_not_overlap() {
    let s = Stack::new(Instance::new("family"))
        .backup(Backup::new("s3:s3.example.com/bucket/family"))
        .app(Web);
    assert!(compose(&s).is_ok(), "{:?}", problems(&s));
}

#[test]
fn a_backup_that_may_run_into_the_reboot_window_is_refused() {
    // 03:30 every day, up to 2 h: Sunday's run may last until 05:30, past a 04:00 reboot.
    let s = stack("*-*-* 03:30:00", "Sun 04:00", "1h");
    let err = compose(&s).expect_err("overlap");
    let text = err.to_string();
    assert!(text.contains("backup.on_calendar"), "{text}");
    assert!(
        text.contains("Sun 03:30") && text.contains("Sun 05:30"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{BACKUP_LIMIT_MIN} min at most"))
            && text.contains(&format!("stopped pass {STOPPED_PASS_LIMIT_MIN} min")),
        "{text}"
    );
    // A window that ends before the backup, one that starts when it is over, or another day:
    // accepted.
    for (cal, start, len) in [
        ("*-*-* 03:30:00", "Sun 02:00", "1h30m"),
        ("*-*-* 03:30:00", "Sun 05:30", "1h"),
        ("Mon..Sat 03:30", "Sun 04:00", "1h"),
    ] {
        let s = stack(cal, start, len);
        assert!(compose(&s).is_ok(), "{cal} / {start}: {:?}", problems(&s));
    }
    // A daily window meets every daily backup it touches, and wraps around midnight.
    let s = stack("Sat 23:30", "00:30", "30m");
    assert!(compose(&s).is_err());
}

#[test]
fn an_expression_the_check_cannot_read_is_a_warning_not_an_error() {
    let s = stack("*-*-01 03:30:00", "Sun 04:00", "1h");
    let v = compose(&s).expect("only a warning");
    let w: Vec<String> = v
        .warnings()
        .problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(w.iter().any(|w| w.contains("cannot tell whether")), "{w:?}");
}
