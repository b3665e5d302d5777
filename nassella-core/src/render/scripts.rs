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
        (
            "prepare-data",
            include_str!("../../templates/prepare-data.sh.hbs"),
        ),
        ("restore", include_str!("../../templates/restore.sh.hbs")),
        ("backup", include_str!("../../templates/backup.sh.hbs")),
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
    pub prepare_data: Option<String>,
    pub restore: String,
    pub backup: Option<String>,
    pub maintenance: String,
    pub excludes: String,
}

pub(super) fn scripts(v: &ValidatedStack, names: &Names) -> Scripts {
    let h = registry();
    let q = |s: &str| sh_quote(s);
    let host = &v.instance.name;
    let prepare_data = (v.instance.provider != crate::Provider::Local).then(|| {
        h.render(
            "prepare-data",
            &json!({
                "label": q(DATA_LABEL),
                // Left unquoted on purpose: the shell expands the glob.
                "device_glob": v.instance.provider.volume_device_glob(),
            }),
        )
        .expect("template renders")
    });
    let snapshot = v
        .backup
        .as_ref()
        .and_then(|b| b.restore_snapshot.clone())
        .unwrap_or_else(|| "latest".into());
    let restic_image = v
        .backup
        .as_ref()
        .map_or(String::new(), |b| b.restic_image.clone());
    let restore = h.render("restore", &json!({
        "data_root": q(&v.instance.data_root),
        "host": q(host),
        "snapshot": q(&snapshot),
        "snapshot_label": if snapshot == "latest" { "latest".to_owned() } else { format!("chosen ({snapshot})") },
        "restic_image": q(&restic_image),
        "env_file": q(&names.restic_env()),
        "backup": v.backup.is_some(),
    })).expect("template renders");

    let mut excludes = vec![format!("/data/.nassella")];
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
            let argv = hk.command.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" ");
            json!({
                "app": app.id,
                "command": format!("{COMPOSE_BIN} --project-name {} --file {} exec -T {} {argv}",
                    names.app_project(&app.id), names.app_compose(&app.id), sh_quote(&hk.service)),
            })
        })
            })
            .collect();
        let r = b.retention;
        let mut retention = Vec::new();
        for (flag, n) in [
            ("--keep-daily", r.daily),
            ("--keep-weekly", r.weekly),
            ("--keep-monthly", r.monthly),
        ] {
            if n > 0 {
                retention.push(format!("{flag} {n}"));
            }
        }
        h.render(
            "backup",
            &json!({
                "data_root": q(&v.instance.data_root),
                "host": q(host),
                "restic_image": q(&b.restic_image),
                "env_file": q(&names.restic_env()),
                "excludes_file": q(&names.backup_excludes()),
                "notify_url": q(b.notify_url.as_deref().unwrap_or("")),
                "app_units": v.apps.iter().map(|a| names.app_unit(&a.id)).collect::<Vec<_>>(),
                "hooks": hooks,
                "retention": retention.join(" "),
            }),
        )
        .expect("template renders")
    });
    let maintenance = h
        .render("maintenance", &json!({}))
        .expect("template renders");
    Scripts {
        prepare_data,
        restore,
        backup,
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
