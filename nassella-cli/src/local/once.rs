//! Apps' one-off jobs as the local target finds them: in the materialised
//! `nassella-once-<app>-<job>.service` units, as a server's systemd does. A unit gives the job's
//! order (its `After=` names the app's previous job), its marker (`ConditionPathExists=!<marker>`)
//! and its command (`ExecStart=<app script> exec <app> <service> <argv…>`, quoted by
//! [`nassella_core::render::systemd_quote`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

/// One one-off job, read from its unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OnceJob {
    /// The unit's name, `nassella-once-<app>-<job>.service`.
    pub unit: String,
    /// The file whose existence means the job has run on this data volume.
    pub marker: PathBuf,
    /// The app script's arguments: `exec <app> <service> <argv…>`.
    pub args: Vec<String>,
}

/// The one-off jobs of `app` among the units in `units_dir`, in the order their `After=` chain
/// gives (the order the app declared them). `app_script` is the server path the units run.
pub(super) fn jobs(units_dir: &Path, app: &str, app_script: &str) -> Result<Vec<OnceJob>> {
    let prefix = format!("nassella-once-{app}-");
    let mut names: Vec<String> = std::fs::read_dir(units_dir)
        .with_context(|| format!("reading {}", units_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".service"))
        .collect();
    names.sort();
    let mut left = Vec::new();
    for name in names {
        let path = units_dir.join(&name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let (job, after) = parse(&name, &text, app_script).with_context(|| format!("in {name}"))?;
        // The prefix also matches an app whose id extends this one (`cloud` and `cloud-b`):
        // the job's own command names its app.
        if job.args.get(1).map(String::as_str) == Some(app) {
            left.push((job, after));
        }
    }
    // A job goes once none of the jobs it is ordered after is left.
    let mut ordered = Vec::new();
    while !left.is_empty() {
        let next = left
            .iter()
            .position(|(_, after)| !after.iter().any(|u| left.iter().any(|(j, _)| &j.unit == u)))
            .ok_or_else(|| anyhow!("the one-off jobs of {app} are ordered in a cycle"))?;
        ordered.push(left.remove(next).0);
    }
    Ok(ordered)
}

/// A one-off job's unit, and the units it is ordered after.
fn parse(name: &str, text: &str, app_script: &str) -> Result<(OnceJob, Vec<String>)> {
    let mut after = Vec::new();
    let mut marker = None;
    let mut exec = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "After" => after.extend(value.split_whitespace().map(str::to_owned)),
            "ConditionPathExists" => {
                let path = value
                    .strip_prefix('!')
                    .ok_or_else(|| anyhow!("ConditionPathExists={value} is not `!<marker>`"))?;
                marker = Some(PathBuf::from(path));
            }
            "ExecStart" => exec = Some(unquote(value)?),
            _ => {}
        }
    }
    let marker = marker.ok_or_else(|| anyhow!("no ConditionPathExists=!<marker>"))?;
    let mut args = exec.ok_or_else(|| anyhow!("no ExecStart="))?;
    if args.first().map(String::as_str) != Some(app_script) {
        bail!("ExecStart= does not run {app_script}");
    }
    args.remove(0);
    let job = OnceJob {
        unit: name.to_owned(),
        marker,
        args,
    };
    Ok((job, after))
}

/// The words of an `Exec…=` line, for exactly the quoting `systemd_quote` produces: bare words
/// without `\ " ' $ %`, and `"…"` words with `\\`, `\"`, `$$` and `%%` escaped.
fn unquote(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            // Bytes, since `systemd_quote` writes a multi-byte control character as several
            // `\xNN` escapes.
            let mut bytes = Vec::new();
            loop {
                let c = chars
                    .next()
                    .ok_or_else(|| anyhow!("unterminated quote in `{line}`"))?;
                let escaped = match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some(n @ ('\\' | '"')) => Some(n),
                        Some('n') => Some('\n'),
                        Some('t') => Some('\t'),
                        Some('x') => {
                            let hex: String = chars.by_ref().take(2).collect();
                            let byte = u8::from_str_radix(&hex, 16)
                                .map_err(|_| anyhow!("bad `\\x` escape in `{line}`"))?;
                            bytes.push(byte);
                            continue;
                        }
                        _ => None,
                    },
                    '$' | '%' => chars.next().filter(|n| *n == c),
                    c => Some(c),
                };
                let c = escaped.ok_or_else(|| anyhow!("unexpected escape in `{line}`"))?;
                bytes.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
            }
            word = String::from_utf8(bytes)
                .map_err(|_| anyhow!("an escape that is not UTF-8 in `{line}`"))?;
            if chars.peek().is_some_and(|n| *n != ' ') {
                bail!("no space after a quoted word in `{line}`");
            }
        } else {
            word.push(c);
            while let Some(c) = chars.next_if(|n| *n != ' ') {
                word.push(c);
            }
            if word.contains(['\\', '"', '\'', '$', '%']) {
                bail!("`{word}` would be quoted: `{line}` is not an Exec line Nassella wrote");
            }
        }
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nassella_core::render::systemd_quote;
    use nassella_core::{
        build, App, AppContext, Contribution, Instance, Keys, MasterKey, OneOffJob, Provider,
        Route, Service, Stack, Upstream,
    };

    #[test]
    fn unquote_inverts_systemd_quote() {
        let args = [
            "plain",
            "",
            "two words",
            "tab\there",
            "$HOME",
            "$$",
            "100%",
            "%n",
            "back\\slash",
            "\\\"",
            "say \"hi\"",
            "it's",
            "sh -c 'echo \"$X\" >> /data/f; echo 50%'",
            "ünïcode ✓",
            "line\nbreak",
            "next\u{85}line",
        ];
        let line: Vec<String> = args.iter().map(|a| systemd_quote(a)).collect();
        assert_eq!(unquote(&line.join(" ")).unwrap(), args);
        for a in args {
            assert_eq!(unquote(&systemd_quote(a)).unwrap(), [a], "{a:?}");
        }
    }

    #[test]
    fn unquote_refuses_what_nassella_does_not_write() {
        for bad in [
            "\"open",
            "\"a\\q\"",
            "\"a\\xZZ\"",
            "\"$HOME\"",
            "\"a\"b",
            "$HOME",
            "it's",
            "a\\b",
        ] {
            assert!(unquote(bad).is_err(), "{bad}");
        }
        assert_eq!(unquote("").unwrap(), Vec::<String>::new());
    }

    /// An app whose jobs are declared out of name order, with quoting to undo.
    #[derive(Debug)]
    struct Jobs;

    impl App for Jobs {
        fn kind(&self) -> &str {
            "jobs"
        }
        fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
            let mut c = Contribution::new();
            c.service(Service::new("web", "example/web:1.0").port(8080));
            c.route(Route::new("jobs.example.com").proxy(Upstream::new("web", 8080)));
            c.one_off_job(OneOffJob::new("zeta", "web", ["true"]));
            c.one_off_job(OneOffJob::new(
                "alpha",
                "web",
                ["sh", "-c", "echo \"$HOME\" 100% 'x' \\"],
            ));
            c.one_off_job(OneOffJob::new("mid", "web", ["echo", "a b"]));
            c
        }
    }

    #[test]
    fn jobs_come_from_the_materialised_units_in_declaration_order() {
        let stack = Stack::new(
            Instance::new("t")
                .provider(Provider::Local)
                .data_root("/srv/d"),
        )
        .app(Jobs)
        .app(nassella_apps::WordPress::new(
            "blog.example.com",
            "me@example.com",
        ))
        // Its units' names start with `nassella-once-jobs-` too.
        .app_as(
            "jobs-x",
            nassella_apps::WordPress::new("x.example.com", "me@example.com"),
        );
        let built = build(&stack, &Keys::new(MasterKey::insecure_test_key()))
            .unwrap_or_else(|r| panic!("{r}"));
        let root = tempfile::tempdir().unwrap();
        crate::materialise::materialise(
            built.bundle.ignition(),
            root.path(),
            &crate::materialise::Options::default(),
        )
        .unwrap();
        let units = root.path().join(crate::materialise::UNITS_DIR);
        let script = super::super::app_script();
        let v = nassella_core::compose(&stack).unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(
            nassella_core::render::Names::new(&v).app_script(),
            script,
            "the local target maps the app script the units name"
        );

        let found = jobs(&units, "jobs", &script).unwrap();
        let job = |name: &str, argv: &[&str]| OnceJob {
            unit: format!("nassella-once-jobs-{name}.service"),
            marker: PathBuf::from(format!("/srv/d/jobs/.nassella-once-{name}")),
            args: ["exec", "jobs", "web"]
                .iter()
                .chain(argv)
                .map(|s| (*s).to_owned())
                .collect(),
        };
        assert_eq!(
            found,
            [
                job("zeta", &["true"]),
                job("alpha", &["sh", "-c", "echo \"$HOME\" 100% 'x' \\"]),
                job("mid", &["echo", "a b"]),
            ]
        );

        let wp = jobs(&units, "wordpress", &script).unwrap();
        assert_eq!(wp.len(), 1);
        assert_eq!(wp[0].args[..4], ["exec", "wordpress", "cli", "sh"]);
        assert!(wp[0].args[5].contains("--url=\"$WP_URL\""), "{:?}", wp[0]);
        assert_eq!(jobs(&units, "jobs-x", &script).unwrap().len(), 1);
        assert!(jobs(&units, "nothing", &script).unwrap().is_empty());
    }

    #[test]
    fn a_unit_that_is_not_a_one_off_job_is_refused() {
        let ok = "[Unit]\nAfter=a.service\nConditionPathExists=!/d/m\n[Service]\nExecStart=/s exec a b c\n";
        let (job, after) = parse("u", ok, "/s").unwrap();
        assert_eq!(
            (job.args, after),
            (
                vec!["exec".into(), "a".into(), "b".into(), "c".into()],
                vec!["a.service".into()]
            )
        );
        for bad in [
            ok.replace("=!/d/m", "=/d/m"),
            ok.replace("ConditionPathExists", "X"),
            ok.replace("ExecStart", "X"),
            ok.replace("/s exec", "/other exec"),
        ] {
            assert!(parse("u", &bad, "/s").is_err(), "{bad}");
        }
    }
}
