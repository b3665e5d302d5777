//! Shell scripts and the maintenance page, from handlebars templates. Every value is quoted for
//! the shell in Rust before it reaches a template, and templates escape nothing themselves.

use handlebars::Handlebars;
use serde_json::json;

use super::{Names, COMPOSE_BIN, DATA_LABEL};
use crate::composer::ValidatedStack;

/// Quote `s` as one shell word (single quotes, with `'` spelled `'\''`).
#[must_use]
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn registry() -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(true);
    h.register_escape_fn(handlebars::no_escape);
    for (name, text) in [
        ("app", include_str!("../../templates/app.sh.hbs")),
        (
            "prepare-data",
            include_str!("../../templates/prepare-data.sh.hbs"),
        ),
        ("restore", include_str!("../../templates/restore.sh.hbs")),
        ("backup", include_str!("../../templates/backup.sh.hbs")),
        ("report", include_str!("../../templates/report.sh.hbs")),
        (
            "install-compose",
            include_str!("../../templates/install-compose.sh.hbs"),
        ),
        (
            "maintenance",
            include_str!("../../templates/maintenance.html.hbs"),
        ),
    ] {
        h.register_template_string(name, text)
            .expect("templates are valid handlebars");
    }
    h
}

pub(super) struct Scripts {
    pub app: String,
    pub prepare_data: Option<String>,
    pub restore: String,
    pub backup: Option<String>,
    pub report: String,
    pub install_compose: String,
    pub maintenance: String,
    pub excludes: String,
}

pub(super) fn scripts(v: &ValidatedStack, _names: &Names) -> Scripts {
    let h = registry();
    let q = |s: &str| sh_quote(s);
    let host = &v.instance.name;
    let render =
        |name: &str, data: serde_json::Value| h.render(name, &data).expect("template renders");

    let app = render(
        "app",
        json!({ "compose": COMPOSE_BIN, "instance": q(host) }),
    );
    let prepare_data = (v.instance.provider != crate::Provider::Local).then(|| {
        render(
            "prepare-data",
            json!({
                "label": q(DATA_LABEL),
                // Left unquoted on purpose: the shell expands the glob.
                "device_glob": v.instance.provider.volume_device_glob(),
            }),
        )
    });
    let snapshot = v
        .backup
        .as_ref()
        .and_then(|b| b.restore_snapshot.clone())
        .unwrap_or_else(|| "latest".into());
    let (repository, restic_image) = v
        .backup
        .as_ref()
        .map_or((String::new(), String::new()), |b| {
            (b.repository.clone(), b.restic_image.clone())
        });
    let restore = render(
        "restore",
        json!({
            "data_root": q(&v.instance.data_root),
            "host": q(host),
            "snapshot": q(&snapshot),
            "snapshot_label": if snapshot == "latest" { "latest".to_owned() } else { format!("chosen ({snapshot})") },
            "repository": q(&repository),
            "restic_image": q(&restic_image),
            "backup": v.backup.is_some(),
        }),
    );

    // Paths inside the restic container, where the data root is mounted at /data.
    let mut excludes = vec!["/data/.nassella".to_owned()];
    for app in &v.apps {
        for vol in &app.c.volumes {
            if let Some(crate::BackupPolicy::Exclude(_)) = vol.backup {
                excludes.push(format!("/data/{}/{}", app.id, vol.name));
            }
        }
    }
    let excludes = excludes.join("\n") + "\n";

    let backup = v.backup.as_ref().map(|b| {
        let hooks: Vec<_> = v
            .apps
            .iter()
            .flat_map(|app| {
                app.c.backup_hooks.iter().map(move |hk| {
                    json!({
                        "app": q(&app.id),
                        "service": q(&hk.service),
                        "command": hk.command.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" "),
                    })
                })
            })
            .collect();
        let r = b.retention;
        let mut retention = Vec::new();
        for (flag, n) in [("--keep-daily", r.daily), ("--keep-weekly", r.weekly), ("--keep-monthly", r.monthly)] {
            if n > 0 {
                retention.push(format!("{flag} {n}"));
            }
        }
        render("backup", json!({
            "data_root": q(&v.instance.data_root),
            "host": q(host),
            "repository": q(&b.repository),
            "restic_image": q(&b.restic_image),
            "apps": v.apps.iter().map(|a| q(&a.id)).collect::<Vec<_>>(),
            "hooks": hooks,
            "retention": retention.join(" "),
            "stopped_limit_s": crate::schedule::STOPPED_PASS_LIMIT_MIN * 60,
            "stopped_limit_min": crate::schedule::STOPPED_PASS_LIMIT_MIN,
        }))
    });
    let report = render(
        "report",
        json!({
            "host": q(host),
            "notify_url": q(v.backup.as_ref().and_then(|b| b.notify_url.as_deref()).unwrap_or("")),
        }),
    );
    // The composer accepts only `sha256-<hex>` and `sha512-<hex>`.
    let compose = &v.instance.docker_compose;
    let (algo, sum) = compose.hash.split_once('-').unwrap_or(("sha256", ""));
    let install_compose = render(
        "install-compose",
        json!({
            "url": q(&compose.url),
            "algo": q(algo),
            "sum": q(sum),
            "target": q(COMPOSE_BIN),
        }),
    );
    let maintenance = render("maintenance", json!({}));
    Scripts {
        app,
        prepare_data,
        restore,
        backup,
        report,
        install_compose,
        maintenance,
        excludes,
    }
}

#[cfg(test)]
mod tests {
    use super::sh_quote;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("abc-1.2"), "abc-1.2");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("it's $x"), r"'it'\''s $x'");
    }
}
