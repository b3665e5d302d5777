//! Hostile config files and what must hold for each (shared by `tests/hostile.rs`, which runs a
//! bounded number in CI, and `examples/hostile.rs`, which runs as many as asked and prints the
//! counts).
//!
//! A case is the TOML text of a config file with hostile values in its fields (line breaks, CR,
//! NUL, trailing backslashes, quotes, `{$VAR}`, leading `-`, huge numbers, unicode, very long
//! strings, deep nesting, unknown keys, misleading comments and headers) and hostile secrets in
//! the environment. For each case: nothing panics; every error names a key path and a line of
//! the file (or, for a value from the environment, the variable); every successful build reads
//! back with each artifact's grammar and holds exactly the lines, keys and directives the config
//! asked for.

#![allow(dead_code, clippy::too_many_lines)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use nassella_core::render::scripts::sh_quote;
use nassella_core::render::{instance_plan, CADDY_IMAGE};
use nassella_core::{build, compose, Keys, MasterKey, Severity};

/// The file name problems must name.
pub const FILE: &str = "hostile.config";

/// A small deterministic generator (xorshift64*): the same seed gives the same cases.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Lines, keys and directives a hostile value tries to add to some file.
const INJECTED: [&str; 8] = [
    "REBOOT_STRATEGY=off",
    "SERVER=https://evil.example",
    "Persistent=false",
    "ExecStartPre=/bin/sh -c reboot",
    "RESTIC_PASSWORD=attacker",
    "}\nevil.example.com {\n\treverse_proxy evil:80\n}",
    "evil: true",
    "--privileged",
];

/// `base`, made hostile in one of many ways (or left as is).
fn hostile(rng: &mut Rng, base: &str) -> String {
    let inject = *rng.pick(&INJECTED);
    match rng.below(26) {
        0 => format!("{base}\n{inject}"),
        1 => format!("{base}\r{inject}"),
        2 => format!("{base}\r\n{inject}"),
        3 => format!("{base}\0"),
        4 => format!("{base}\0{inject}"),
        5 => format!("{base}\\"),
        6 => format!("\"{base}\""),
        7 => format!("'{base}'"),
        8 => format!("{{$HOME}}{base}"),
        9 => format!("{base}{{env.HOME}}"),
        10 => format!("--{base}"),
        11 => format!("-{base}"),
        12 => String::new(),
        13 => base.repeat(5000 / base.len().max(1) + 1),
        14 => format!("ünï\u{202e}{base}"),
        15 => format!("{base}\u{2028}{inject}"),
        16 => format!("\u{1b}[2J\u{1b}[Herror at nowhere: forged{base}"),
        17 => format!("{base} {inject}"),
        18 => format!("{base}#{inject}"),
        19 => format!("{base}`"),
        20 => format!("{base}\t"),
        21 => format!("{base}:latest"),
        22 => format!("{base}\u{7f}"),
        23 => format!("{base}\u{85}"),
        _ => base.to_owned(),
    }
}

/// A TOML basic string holding `s` exactly.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the config asked for, to compare the artifacts with.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    window_start: String,
    window_length: String,
    email: Option<String>,
    backup: Option<AskedBackup>,
    proxy_image: String,
    backup_env: BTreeMap<String, String>,
    hosts: BTreeSet<String>,
}

#[derive(Debug, Default, Clone)]
struct AskedBackup {
    repository: String,
    schedule: String,
    restic_image: String,
}

/// One generated case.
pub struct Case {
    /// The config file's text.
    pub text: String,
    /// The secrets "in the environment".
    pub keys: Keys,
    asked: Asked,
}

/// Generate case number `n` of the run seeded `seed`.
pub fn case(seed: u64, n: u64) -> Case {
    let mut rng = Rng::new(seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
    // Percent of fields made hostile: from none to a third, so that many cases build and many fail.
    let h = rng.below(34) as u64;
    let field = |rng: &mut Rng, base: &str| -> String {
        if rng.chance(h) {
            hostile(rng, base)
        } else {
            base.to_owned()
        }
    };
    let mut t = String::new();
    let mut asked = Asked::default();
    if rng.chance(15) {
        t.push_str("# A comment about [backup] and [instance] and [apps.x]\n# [ backup ]\n");
    }
    let ws = |rng: &mut Rng| if rng.chance(20) { " " } else { "" };
    let (a, b) = (ws(&mut rng), ws(&mut rng));
    let _ = writeln!(t, "[{a}instance{b}]");
    let name = if rng.chance(3) {
        "x".repeat(5000)
    } else {
        field(&mut rng, "hostile")
    };
    let _ = writeln!(t, "name = {}", toml_str(&name));
    let _ = writeln!(t, "provider = \"local\"");
    match rng.below(4) {
        0 => {
            let e = field(&mut rng, "admin@example.com");
            asked.email = Some(e.clone());
            let typo = if rng.chance(10) {
                ", emial = \"x@y.z\""
            } else {
                ""
            };
            let _ = writeln!(
                t,
                "tls = {{ mode = \"acme\", email = {}{typo} }}",
                toml_str(&e)
            );
        }
        1 => {
            let _ = writeln!(t, "tls = {{ mode = \"internal\" }}");
        }
        _ => {
            let _ = writeln!(t, "tls = {{ mode = \"http_only\" }}");
            let _ = writeln!(
                t,
                "http_port = {}",
                rng.pick(&["18080", "0", "65535", "99999999999"])
            );
        }
    }
    asked.window_start = "Sun 06:00".into();
    asked.window_length = "1h".into();
    if rng.chance(60) {
        asked.window_start = field(&mut rng, "Sun 04:00");
        let _ = writeln!(t, "reboot_window_start = {}", toml_str(&asked.window_start));
    }
    if rng.chance(60) {
        asked.window_length = field(&mut rng, "1h30m");
        let _ = writeln!(
            t,
            "reboot_window_length = {}",
            toml_str(&asked.window_length)
        );
    }
    if rng.chance(20) {
        let _ = writeln!(t, "data_root = {}", toml_str(&field(&mut rng, "/srv/data")));
    }
    if rng.chance(10) {
        let _ = writeln!(
            t,
            "image_selector = {}",
            toml_str(&field(&mut rng, "os=flatcar"))
        );
    }
    if rng.chance(5) {
        let _ = writeln!(t, "unknown_key = 1");
    }

    let mut restic_image = "restic/restic:0.19.1".to_owned();
    let mut proxy_image = CADDY_IMAGE.to_owned();
    let mut images = Vec::new();
    if rng.chance(40) {
        for from in [CADDY_IMAGE, "restic/restic:0.19.1", "nassella/hello:1.0"] {
            if rng.chance(50) {
                let to = field(&mut rng, &format!("registry.example.com/{from}"));
                if from == CADDY_IMAGE {
                    proxy_image.clone_from(&to);
                } else if from.starts_with("restic") {
                    restic_image.clone_from(&to);
                }
                images.push((from.to_owned(), to));
            }
        }
    }
    asked.proxy_image = proxy_image;

    if rng.chance(80) {
        let (a, b) = (ws(&mut rng), ws(&mut rng));
        let _ = writeln!(t, "\n[{a}backup{b}]");
        let repository = field(&mut rng, "s3:s3.example.com/bucket/family");
        let _ = writeln!(t, "repository = {}", toml_str(&repository));
        let mut schedule = "*-*-* 03:30:00".to_owned();
        if rng.chance(70) {
            let base = rng_pick_schedule(&mut rng);
            schedule = field(&mut rng, base);
            let _ = writeln!(t, "schedule = {}", toml_str(&schedule));
        }
        for k in ["keep_daily", "keep_weekly", "keep_monthly"] {
            if rng.chance(40) {
                let v = rng.pick(&[
                    "0",
                    "1",
                    "7",
                    "4294967295",
                    "4294967296",
                    "-1",
                    "99999999999999999999",
                ]);
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        if rng.chance(30) {
            let _ = writeln!(
                t,
                "notify_url = {}",
                toml_str(&field(&mut rng, "https://hc-ping.com/abc"))
            );
        }
        if rng.chance(10) {
            let _ = writeln!(
                t,
                "restore_snapshot = {}",
                toml_str(&field(&mut rng, "abcdef12"))
            );
        }
        asked.backup = Some(AskedBackup {
            repository,
            schedule,
            restic_image,
        });
    }
    if !images.is_empty() {
        t.push_str("\n[images]\n");
        for (from, to) in &images {
            let _ = writeln!(t, "{} = {}", toml_str(from), toml_str(to));
        }
    }

    let apps = 1 + rng.below(2);
    for i in 0..apps {
        let id = if rng.chance(5) {
            hostile(&mut rng, "web")
        } else {
            format!("web{i}")
        };
        let _ = writeln!(t, "\n[apps.{}]", toml_str(&id));
        let host = field(&mut rng, &format!("app{i}.example.com"));
        asked.hosts.insert(host.clone());
        if rng.chance(50) {
            let _ = writeln!(t, "app = \"hello\"\nhost = {}", toml_str(&host));
            if rng.chance(30) {
                let image = field(&mut rng, "registry.example.com/hello:2.0");
                let _ = writeln!(t, "image = {}", toml_str(&image));
            }
        } else {
            let _ = writeln!(t, "app = \"vaultwarden\"\nhost = {}", toml_str(&host));
            if rng.chance(60) {
                let _ = writeln!(
                    t,
                    "smtp = {{ host = {}, from = {}, username = {}, password_env = {} }}",
                    toml_str(&field(&mut rng, "smtp.example.com")),
                    toml_str(&field(&mut rng, "vault@example.com")),
                    toml_str(&field(&mut rng, "vault@example.com")),
                    toml_str(&field(&mut rng, "VAULT_SMTP_PASSWORD")),
                );
            }
        }
        if rng.chance(5) {
            let _ = writeln!(
                t,
                "signups_allowed = {}",
                rng.pick(&["true", "\"yes\"", "1", "[]"])
            );
        }
        if rng.chance(4) {
            let depth = 1 + rng.below(120);
            let _ = writeln!(t, "nested = {}1{}", "[".repeat(depth), "]".repeat(depth));
        }
    }

    let mut keys = Keys::new(MasterKey::insecure_test_key());
    if rng.chance(80) {
        keys = keys.provide(
            "VAULT_SMTP_PASSWORD",
            field(&mut rng, "correct horse battery staple"),
        );
    }
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let v = field(&mut rng, "s3cr3t/+=value");
        keys = keys.backup_env(k, v.clone());
        asked.backup_env.insert(k.to_owned(), v);
    }
    Case {
        text: t,
        keys,
        asked,
    }
}

fn rng_pick_schedule(rng: &mut Rng) -> &'static str {
    const S: [&str; 4] = ["*-*-* 03:30:00", "daily", "Mon..Fri 18:00", "*:0/15"];
    S[rng.below(S.len())]
}

/// How one case ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Something panicked (the message).
    pub panic: Option<String>,
    /// Built; every artifact checked.
    pub built: bool,
    /// Errors naming a key path and a line of the file.
    pub path_and_line: usize,
    /// Errors naming a line but no key path (the TOML parser's own).
    pub line_only: usize,
    /// Errors about a value from the environment: they name the variable (no line to give).
    pub env_named: usize,
    /// Errors with neither.
    pub none: usize,
    /// A value broke out of its field, or a message printed a raw control character.
    pub escapes: Vec<String>,
    /// Errors with neither path nor line, as printed.
    pub unlocated: Vec<String>,
    /// Errors with a line only, as printed.
    pub line_only_samples: Vec<String>,
}

/// Run one case through the config reader, the composer and the renderers.
pub fn run(case: &Case) -> Outcome {
    let mut out = Outcome::default();
    let result = catch_unwind(AssertUnwindSafe(|| check(case, &mut out)));
    if let Err(p) = result {
        out.panic = Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".into()),
        );
    }
    out
}

fn check(case: &Case, out: &mut Outcome) {
    let lines = u32::try_from(case.text.lines().count().max(1)).unwrap_or(u32::MAX);
    let (stack, report) = match nassella_cli::config::parse(FILE, &case.text) {
        Err(msg) => {
            if msg.contains(|c: char| c != '\n' && nassella_core::values::is_control(c)) {
                out.escapes
                    .push(format!("raw control character in {msg:?}"));
            }
            let first = msg.lines().next().unwrap_or("");
            let placed = first
                .strip_prefix("error at ")
                .and_then(|rest| rest.split_once(&format!(" ({FILE}:")))
                .and_then(|(path, rest)| rest.split_once("):").map(|(line, _)| (path, line)))
                .and_then(|(path, line)| Some((path, line.parse::<u32>().ok()?)))
                .is_some_and(|(path, line)| !path.is_empty() && line >= 1 && line <= lines);
            if placed {
                out.path_and_line += 1;
            } else if msg.contains(" line ") {
                out.line_only += 1;
                out.line_only_samples.push(msg);
            } else {
                out.none += 1;
                out.unlocated.push(msg);
            }
            return;
        }
        Ok(x) => x,
    };
    let problems = if report.has_errors() {
        let more = match compose(&stack) {
            Ok(v) => v.warnings().clone(),
            Err(r) => r,
        };
        nassella_cli::config::merge(report, &more)
    } else {
        match build(&stack, &case.keys) {
            Err(r) => r,
            Ok(b) => {
                out.built = true;
                check_artifacts(case, &stack, &b.bundle, out);
                return;
            }
        }
    };
    for p in problems.problems() {
        let shown = p.to_string();
        if shown.contains(nassella_core::values::is_control) {
            out.escapes
                .push(format!("raw control character in message {shown:?}"));
        }
        if p.severity != Severity::Error {
            continue;
        }
        let line_ok = p
            .origin
            .as_ref()
            .is_some_and(|o| o.file == FILE && o.line >= 1 && o.line <= lines);
        if p.path.starts_with("environment.") {
            out.env_named += 1;
        } else if !p.path.is_empty() && line_ok {
            out.path_and_line += 1;
        } else {
            out.none += 1;
            out.unlocated.push(shown);
        }
    }
}

fn text<'a>(b: &'a nassella_core::Bundle, path: &str, out: &mut Outcome) -> &'a str {
    match b.get(path).map(std::str::from_utf8) {
        Some(Ok(t)) => t,
        _ => {
            out.escapes.push(format!("{path} missing or not UTF-8"));
            ""
        }
    }
}

/// Directives the units may use: anything else came from a value.
const UNIT_DIRECTIVES: [&str; 33] = [
    "AccuracySec",
    "After",
    "Before",
    "ConditionPathExists",
    "Conflicts",
    "DefaultDependencies",
    "Description",
    "ExecStart",
    "ExecStartPost",
    "ExecStop",
    "ExecStopPost",
    "JobRunningTimeoutSec",
    "OnBootSec",
    "OnCalendar",
    "OnUnitInactiveSec",
    "Options",
    "Persistent",
    "RemainAfterExit",
    "RequiredBy",
    "Requires",
    "RequiresMountsFor",
    "Requisite",
    "Restart",
    "RestartMaxDelaySec",
    "RestartSec",
    "RestartSteps",
    "StartLimitIntervalSec",
    "TimeoutStartSec",
    "Type",
    "WantedBy",
    "Wants",
    "What",
    "Where",
];

fn check_artifacts(
    case: &Case,
    stack: &nassella_core::Stack,
    bundle: &nassella_core::Bundle,
    out: &mut Outcome,
) {
    let a = &case.asked;
    // update.conf: exactly three keys, with the values asked for.
    let conf = text(bundle, "instance/etc/flatcar/update.conf", out);
    // Read it as the env-file grammar it is: one `KEY=value` per line (a CR ends a line too).
    let pairs: Vec<(&str, &str)> = conf
        .split_terminator(['\n', '\r'])
        .map(|l| l.split_once('=').unwrap_or((l, "")))
        .collect();
    let want = [
        ("REBOOT_STRATEGY", "reboot"),
        ("LOCKSMITHD_REBOOT_WINDOW_START", a.window_start.as_str()),
        ("LOCKSMITHD_REBOOT_WINDOW_LENGTH", a.window_length.as_str()),
    ];
    if pairs != want || conf.contains('\0') {
        out.escapes.push(format!("update.conf is {conf:?}"));
    }
    // Units: only known directives, each line a comment, a section or one `Key=value`; the
    // backup timer has exactly its four directives and the schedule asked for.
    for (path, bytes) in bundle.files() {
        if !path.starts_with("instance/etc/systemd/system/") {
            continue;
        }
        let unit = String::from_utf8_lossy(bytes);
        for line in unit.split('\n') {
            let ok = line.is_empty()
                || line.starts_with("# ")
                || (line.starts_with('[') && line.ends_with(']'))
                || line
                    .split_once('=')
                    .is_some_and(|(k, _)| UNIT_DIRECTIVES.contains(&k));
            if !ok || line.contains('\r') || line.ends_with('\\') {
                out.escapes.push(format!("{path}: line {line:?}"));
            }
        }
    }
    if let Some(bk) = &a.backup {
        let timer = text(
            bundle,
            "instance/etc/systemd/system/nassella-backup.timer",
            out,
        );
        let directives: Vec<&str> = timer
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        if directives != ["Description", "OnCalendar", "Persistent", "WantedBy"]
            || !timer.contains(&format!("\nOnCalendar={}\n", bk.schedule))
        {
            out.escapes.push(format!("backup timer is {timer:?}"));
        }
        // restic.env as written on the server: exactly these keys, once each.
        let plan = instance_plan(&compose(stack).expect("it built"), &case.keys).expect("it built");
        let env = plan
            .0
            .iter()
            .find(|f| f.path.ends_with("/backup/restic.env"))
            .map(|f| String::from_utf8_lossy(&f.contents).into_owned())
            .unwrap_or_default();
        let mut keys: Vec<String> = env
            .split_terminator(['\n', '\r'])
            .map(|l| l.split_once('=').map_or(l, |(k, _)| k).to_owned())
            .collect();
        keys.sort();
        let mut want: Vec<String> = ["RESTIC_PASSWORD", "RESTIC_REPOSITORY"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(a.backup_env.keys().cloned())
            .collect();
        want.sort();
        if keys != want
            || !env.contains(&format!("RESTIC_REPOSITORY={}\n", bk.repository))
            || env.contains('\r')
        {
            out.escapes.push(format!("restic.env keys {keys:?}"));
        }
        for (k, v) in &a.backup_env {
            if !env.contains(&format!("\n{k}={v}\n")) {
                out.escapes
                    .push(format!("restic.env does not hold {k} as given"));
            }
        }
        // backup.sh: the image and repository are single shell words with the values asked for.
        let script = text(bundle, "instance/etc/nassella/bin/backup.sh", out);
        for (var, v) in [
            ("RESTIC_IMAGE", &bk.restic_image),
            ("REPOSITORY", &bk.repository),
        ] {
            if !script.contains(&format!("\nreadonly {var}={}\n", sh_quote(v)))
                || v.starts_with('-')
            {
                out.escapes.push(format!("backup.sh {var} is not {v:?}"));
            }
        }
    }
    // Caddyfile: exactly the sites asked for, and the e-mail as one token.
    let caddy = text(bundle, "instance/etc/nassella/proxy/Caddyfile", out);
    match caddy_sites(caddy) {
        Err(e) => out.escapes.push(format!("Caddyfile does not lex: {e}")),
        Ok((sites, global)) => {
            let want: BTreeSet<String> = a
                .hosts
                .iter()
                .map(|h| {
                    if caddy.contains("auto_https off") {
                        format!("http://{h}")
                    } else {
                        h.clone()
                    }
                })
                .chain(["".to_owned(), "(maintenance)".to_owned()])
                .collect();
            let got: BTreeSet<String> = sites.into_iter().collect();
            if got != want {
                out.escapes
                    .push(format!("Caddyfile sites {got:?}, want {want:?}"));
            }
            let email: Vec<&Vec<String>> = global.iter().filter(|d| d[0] == "email").collect();
            match (
                &a.email,
                caddy.contains("local_certs") || caddy.contains("auto_https off"),
            ) {
                (Some(e), false) if email.len() != 1 || email[0][1..] != [e.clone()] => {
                    out.escapes
                        .push(format!("Caddyfile email {email:?}, want {e:?}"));
                }
                _ => {}
            }
            for d in &global {
                if !["email", "acme_ca", "local_certs", "auto_https"].contains(&d[0].as_str()) {
                    out.escapes
                        .push(format!("Caddyfile global directive {d:?}"));
                }
            }
        }
    }
    // Compose files: only the keys we write, the image asked for.
    let proxy = text(bundle, "instance/etc/nassella/proxy/compose.yaml", out);
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(proxy) {
        Err(e) => out
            .escapes
            .push(format!("proxy compose.yaml does not parse: {e}")),
        Ok(y) => {
            if y["services"]["caddy"]["image"].as_str() != Some(a.proxy_image.as_str()) {
                out.escapes
                    .push("proxy image differs from the one asked for".into());
            }
        }
    }
    for (path, bytes) in bundle.files() {
        if !(path.starts_with("instance/etc/nassella/apps/") && path.ends_with("compose.yaml")) {
            continue;
        }
        match serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(bytes) {
            Err(e) => out.escapes.push(format!("{path} does not parse: {e}")),
            Ok(y) => {
                let top: BTreeSet<String> = y
                    .as_mapping()
                    .map(|m| {
                        m.keys()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if !top
                    .iter()
                    .all(|k| ["name", "services", "networks"].contains(&k.as_str()))
                {
                    out.escapes.push(format!("{path}: top-level keys {top:?}"));
                }
                for (_, s) in y["services"].as_mapping().into_iter().flatten() {
                    let image = s["image"].as_str().unwrap_or("");
                    if nassella_core::values::ImageRef::parse(image).is_err() {
                        out.escapes.push(format!("{path}: image {image:?}"));
                    }
                    for k in s.as_mapping().into_iter().flatten().map(|(k, _)| k) {
                        let k = k.as_str().unwrap_or("");
                        if ![
                            "image",
                            "restart",
                            "entrypoint",
                            "command",
                            "user",
                            "environment",
                            "env_file",
                            "volumes",
                            "networks",
                            "ports",
                            "healthcheck",
                            "depends_on",
                            "shm_size",
                            "security_opt",
                        ]
                        .contains(&k)
                        {
                            out.escapes.push(format!("{path}: service key {k:?}"));
                        }
                    }
                }
            }
        }
    }
    // App env files: each line is one `KEY='value'`.
    for (path, bytes) in bundle.files() {
        if path.ends_with(".env") && path.contains("/apps/") {
            for line in String::from_utf8_lossy(bytes).split_terminator('\n') {
                let ok = line.split_once("='").is_some_and(|(k, v)| {
                    nassella_core::values::EnvName::parse(k).is_ok()
                        && v.ends_with('\'')
                        && !v[..v.len() - 1].contains(['\'', '\r', '\0'])
                });
                if !ok {
                    out.escapes.push(format!("{path}: line {line:?}"));
                }
            }
        }
    }
}

/// Lex a Caddyfile the way Caddy does (plain, backtick and double-quoted tokens, `#` comments,
/// braces) and return the top-level block addresses and the global options' directives.
pub fn caddy_sites(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    // Tokens with the line they start on.
    let mut tokens: Vec<(String, usize, bool)> = Vec::new(); // (token, line, quoted)
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '`' {
            let start = line;
            let mut t = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '`' {
                if chars[i] == '\n' {
                    line += 1;
                }
                t.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated backtick".into());
            }
            i += 1;
            tokens.push((t, start, true));
        } else if c == '"' {
            let start = line;
            let mut t = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\'
                    && i + 1 < chars.len()
                    && (chars[i + 1] == '"' || chars[i + 1] == '\\')
                {
                    i += 1;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                t.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated quote".into());
            }
            i += 1;
            tokens.push((t, start, true));
        } else {
            let mut t = String::new();
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    t.push(chars[i]);
                    i += 1;
                }
                t.push(chars[i]);
                i += 1;
            }
            tokens.push((t, line, false));
        }
    }
    // Group into lines at depth 0 / 1.
    let mut depth = 0usize;
    let mut sites = Vec::new();
    let mut global: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut current_line = 0;
    let mut in_global = false;
    for (t, l, quoted) in tokens {
        if !quoted && t == "{" {
            if depth == 0 {
                in_global = current.is_empty();
                sites.push(current.join(" "));
                current.clear();
            }
            depth += 1;
            continue;
        }
        if !quoted && t == "}" {
            depth = depth.checked_sub(1).ok_or("unbalanced }")?;
            if depth == 0 {
                in_global = false;
            }
            continue;
        }
        if depth == 1 && in_global {
            if l != current_line || global.is_empty() {
                global.push(Vec::new());
                current_line = l;
            }
            global.last_mut().expect("pushed").push(t);
            continue;
        }
        if depth == 0 {
            current.push(t);
        }
    }
    if depth != 0 || !current.is_empty() {
        return Err("unbalanced braces or a directive outside any block".into());
    }
    Ok((sites, global))
}

/// Counts over a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Cases run.
    pub cases: u64,
    /// Cases that built.
    pub built: u64,
    /// Panics.
    pub panics: u64,
    /// Escapes found.
    pub escape_count: usize,
    /// The first escapes found.
    pub escapes: Vec<String>,
    /// The first errors without a location.
    pub unlocated: Vec<String>,
    /// The first errors with a line only.
    pub line_only_samples: Vec<String>,
    /// Built cases checked with the real tools, and what they refused.
    pub real_checked: u64,
    /// Error-location table.
    pub path_and_line: usize,
    /// Errors with a line only (TOML syntax and type errors).
    pub line_only: usize,
    /// Errors about environment values, naming the variable.
    pub env_named: usize,
    /// Errors with no location.
    pub none: usize,
    /// First panics, for the report.
    pub panic_messages: Vec<String>,
}

impl Tally {
    /// Add one outcome.
    pub fn add(&mut self, n: u64, o: &Outcome) {
        self.cases += 1;
        self.built += u64::from(o.built);
        if let Some(p) = &o.panic {
            self.panics += 1;
            if self.panic_messages.len() < 5 {
                self.panic_messages.push(format!("case {n}: {p}"));
            }
        }
        self.escape_count += o.escapes.len();
        for u in &o.line_only_samples {
            if self.line_only_samples.len() < 5 {
                self.line_only_samples.push(format!("case {n}: {u}"));
            }
        }
        for u in &o.unlocated {
            if self.unlocated.len() < 10 {
                self.unlocated.push(format!("case {n}: {u}"));
            }
        }
        for e in &o.escapes {
            if self.escapes.len() < 20 {
                self.escapes.push(format!("case {n}: {e}"));
            }
        }
        self.path_and_line += o.path_and_line;
        self.line_only += o.line_only;
        self.env_named += o.env_named;
        self.none += o.none;
    }

    /// The summary printed at the end.
    pub fn summary(&self) -> String {
        format!(
            "cases run: {}\nbuilt: {} (of which checked with the real tools: {})\npanics: {}\nescapes found: {}\nerror locations: path + line {} | line only (TOML parser) {} | environment variable named {} | none {}",
            self.cases,
            self.built,
            self.real_checked,
            self.panics,
            self.escape_count,
            self.path_and_line,
            self.line_only,
            self.env_named,
            self.none
        )
    }
}

/// Check a built case with the real tools: `caddy validate` (which adapts the Caddyfile),
/// `docker-compose config` on every compose file with its env files, `bash -n` on every script,
/// `systemd-analyze verify` on every unit and `systemd-analyze calendar` on the backup schedule.
/// Returns what they refused.
pub fn real_tools(case: &Case) -> Vec<String> {
    use nassella_testkit as kit;
    let mut refused = Vec::new();
    let Ok((stack, _)) = nassella_cli::config::parse(FILE, &case.text) else {
        return refused;
    };
    let Ok(v) = compose(&stack) else {
        return refused;
    };
    let Ok((files, _)) = instance_plan(&v, &case.keys) else {
        return refused;
    };
    let get = |path: &str| {
        files
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.contents.clone())
    };
    let mut attempt = |what: String, f: &mut dyn FnMut()| {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "refused".into());
            refused.push(format!(
                "{what}: {}",
                msg.chars().take(2000).collect::<String>()
            ));
        }
    };
    if let (Some(caddyfile), Some(page)) = (
        get("/etc/nassella/proxy/Caddyfile"),
        get("/etc/nassella/proxy/maintenance/index.html"),
    ) {
        attempt("caddy validate".into(), &mut || {
            kit::caddy_validate(
                &String::from_utf8_lossy(&caddyfile),
                &[("maintenance/index.html", page.as_slice())],
            );
        });
    }
    let proxy = get("/etc/nassella/proxy/compose.yaml").unwrap_or_default();
    attempt("docker-compose config (proxy)".into(), &mut || {
        kit::compose_config(&[("compose.yaml", proxy.as_slice())], "compose.yaml");
    });
    for app in v.apps() {
        let dir = format!("/etc/nassella/apps/{}/", app.id());
        let project: Vec<(String, Vec<u8>)> = files
            .iter()
            .filter_map(|f| {
                f.path
                    .strip_prefix(&dir)
                    .map(|rel| (rel.to_owned(), f.contents.clone()))
            })
            .collect();
        let refs: Vec<(&str, &[u8])> = project
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        attempt(format!("docker-compose config ({})", app.id()), &mut || {
            kit::compose_config(&refs, "compose.yaml");
        });
    }
    for f in files.iter().filter(|f| f.path.ends_with(".sh")) {
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg("/dev/stdin")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().expect("piped").write_all(&f.contents)?;
                c.wait_with_output()
            });
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => refused.push(format!(
                "bash -n {}: {}",
                f.path,
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => refused.push(format!("bash -n {}: {e}", f.path)),
        }
    }
    // Every unit, read by systemd itself (as snapshots/tests/real_tools.rs does for the
    // examples; the scripts the units start are not on this machine).
    if let Ok(dir) = tempfile::tempdir() {
        let (_, units) = instance_plan(&v, &case.keys).unwrap_or_default();
        let mut paths = Vec::new();
        for u in &units {
            if let Some(c) = &u.contents {
                let p = dir.path().join(&u.name);
                if std::fs::write(&p, c).is_ok() {
                    paths.push(p);
                }
            }
        }
        match std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&paths)
            .output()
        {
            Ok(o) => {
                let complaints: Vec<String> = String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .filter(|l| {
                        !(l.contains("Command /etc/nassella/bin/")
                            && l.contains("is not executable"))
                    })
                    .filter(|l| !nassella_testkit::systemd_too_old_for(l))
                    .map(str::to_owned)
                    .collect();
                if !complaints.is_empty() {
                    refused.push(format!("systemd-analyze verify: {}", complaints.join("\n")));
                }
            }
            Err(e) => refused.push(format!("systemd-analyze verify: {e}")),
        }
    }
    if let Some(b) = &case.asked.backup {
        let out = std::process::Command::new("systemd-analyze")
            .args(["calendar", &b.schedule])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => refused.push(format!(
                "systemd-analyze calendar {:?}: {}",
                b.schedule,
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => refused.push(format!("systemd-analyze: {e}")),
        }
    }
    refused
}
