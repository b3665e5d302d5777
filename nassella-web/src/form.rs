//! An instance's config as a form, and back.
//!
//! The config is the config file's own structure as JSON (`instance`, `backup`, `apps`,
//! `images`); it is checked by turning it into the TOML text of a config file and giving that to
//! the CLI's config code and the composer, so the web app reports exactly the problems `nassella
//! validate` would, with the same paths (`apps.cloud.routes[0].host`). Each app's fields are
//! generated from its settings' JSON Schema, and each problem is shown at the field its path
//! names.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// How a field is edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A whole number.
    Number,
    /// Yes, no or the default.
    Bool,
    /// One of `options`.
    Select,
    /// Lists and tables, as JSON.
    Json,
    /// `from = to` lines (the images table).
    Lines,
}

/// A field of the form. Its `path` is its name in the form and the config path problems use.
#[derive(Debug, Clone)]
pub struct Field {
    /// `instance.http_port`, `apps.cloud.host`, …
    pub path: String,
    /// The key's name.
    pub label: String,
    /// The schema's description.
    pub help: String,
    /// How it is edited.
    pub kind: FieldKind,
    /// The current value, as text.
    pub value: String,
    /// Whether the app cannot do without it.
    pub required: bool,
    /// Choices of a select.
    pub options: Vec<String>,
    /// The problems reported at this field.
    pub errors: Vec<String>,
}

impl Field {
    fn new(path: impl Into<String>, label: &str, kind: FieldKind, help: &str) -> Self {
        Self {
            path: path.into(),
            label: label.into(),
            help: help.into(),
            kind,
            value: String::new(),
            required: false,
            options: vec![],
            errors: vec![],
        }
    }

    /// Is `o` the selected option?
    #[must_use]
    pub fn selected(&self, o: &str) -> bool {
        self.value == o
    }

    /// A DOM id for the field.
    #[must_use]
    pub fn dom_id(&self) -> String {
        format!("f-{}", self.path.replace(['.', '[', ']'], "-"))
    }
}

/// One app's part of the form.
#[derive(Debug, Clone)]
pub struct AppForm {
    /// The app id.
    pub id: String,
    /// The catalog kind.
    pub kind: String,
    /// The catalog's summary.
    pub summary: String,
    /// Its settings.
    pub fields: Vec<Field>,
    /// Problems about the app as a whole.
    pub errors: Vec<String>,
}

/// The whole form.
#[derive(Debug, Clone, Default)]
pub struct InstanceForm {
    /// The instance, backup and images fields.
    pub fields: Vec<Field>,
    /// The apps.
    pub apps: Vec<AppForm>,
    /// Problems no field names.
    pub errors: Vec<String>,
    /// Warnings (never block a deploy).
    pub warnings: Vec<String>,
}

impl InstanceForm {
    /// Number of problems, wherever shown.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.errors.len()
            + self.fields.iter().map(|f| f.errors.len()).sum::<usize>()
            + self
                .apps
                .iter()
                .map(|a| a.errors.len() + a.fields.iter().map(|f| f.errors.len()).sum::<usize>())
                .sum::<usize>()
    }

    fn all_fields_mut(&mut self) -> impl Iterator<Item = &mut Field> {
        self.fields
            .iter_mut()
            .chain(self.apps.iter_mut().flat_map(|a| a.fields.iter_mut()))
    }

    /// Put each problem at the field its path names: the field itself; else the deepest field
    /// whose path the problem's path starts with; else the app's field named like the path's
    /// last key (the composer's `apps.x.routes[0].host` is the setting `apps.x.host`); else the
    /// app as a whole; else the form.
    pub fn attach(&mut self, problems: &[(String, String)]) {
        for (path, msg) in problems {
            let norm = strip_indexes(path);
            let paths: Vec<String> = self.all_fields_mut().map(|f| f.path.clone()).collect();
            let target = paths
                .iter()
                .find(|p| **p == norm)
                .or_else(|| {
                    paths
                        .iter()
                        .filter(|p| norm.starts_with(&format!("{p}.")))
                        .max_by_key(|p| p.len())
                })
                .or_else(|| {
                    // A problem about a table (`backup`) with one field (`backup.repository`).
                    let mut under = paths.iter().filter(|p| p.starts_with(&format!("{norm}.")));
                    match (under.next(), under.next()) {
                        (Some(one), None) => Some(one),
                        _ => None,
                    }
                })
                .or_else(|| {
                    let mut seg = norm.split('.');
                    let (Some("apps"), Some(app)) = (seg.next(), seg.next()) else {
                        return None;
                    };
                    let last = norm.rsplit('.').next()?;
                    let want = format!("apps.{app}.{last}");
                    paths.iter().find(|p| **p == want)
                })
                .cloned();
            let text = format!("{msg} ({path})");
            if let Some(t) = target {
                if let Some(f) = self.all_fields_mut().find(|f| f.path == t) {
                    f.errors.push(text);
                    continue;
                }
            }
            let app = norm.strip_prefix("apps.").and_then(|r| r.split('.').next());
            match app.and_then(|id| self.apps.iter_mut().find(|a| a.id == id)) {
                Some(a) => a.errors.push(text),
                None => self.errors.push(text),
            }
        }
    }
}

fn strip_indexes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// A new instance's config.
#[must_use]
pub fn new_config(full_name: &str, provider: &str) -> Value {
    let tls = if provider == "local" {
        json!({ "mode": "http_only" })
    } else {
        json!({ "mode": "acme" })
    };
    json!({ "instance": { "name": full_name, "provider": provider, "tls": tls }, "apps": {} })
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

/// The settings' fields of a catalog app, from its JSON Schema.
#[must_use]
pub fn app_fields(kind: &str, id: &str) -> Vec<Field> {
    let Some(entry) = nassella_apps::find(kind) else {
        return vec![];
    };
    let schema = serde_json::to_value((entry.schema)()).unwrap_or(Value::Null);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return vec![];
    };
    props
        .iter()
        .map(|(key, p)| {
            let ty = match &p["type"] {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|t| *t != "null")
                    .unwrap_or("object")
                    .to_owned(),
                _ => "object".to_owned(),
            };
            let kind = match ty.as_str() {
                "string" if p.get("enum").is_some() => FieldKind::Select,
                "string" => FieldKind::Text,
                "integer" | "number" => FieldKind::Number,
                "boolean" => FieldKind::Bool,
                _ => FieldKind::Json,
            };
            let mut help = p["description"].as_str().unwrap_or_default().to_owned();
            if let Some(d) = p.get("default").filter(|d| !d.is_null()) {
                help.push_str(&format!(" (default: {d})"));
            }
            let mut f = Field::new(format!("apps.{id}.{key}"), key, kind, help.trim());
            f.required = required.contains(&key.as_str());
            if let Some(opts) = p["enum"].as_array() {
                f.options = opts
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
            }
            f
        })
        .collect()
}

fn instance_fields(config: &Value) -> Vec<Field> {
    let i = &config["instance"];
    let mut provider = Field::new(
        "instance.provider",
        "provider",
        FieldKind::Select,
        "Where the server runs: `local` runs it on this machine's Docker engine",
    );
    provider.options = vec!["local".into(), "hetzner".into(), "digitalocean".into()];
    provider.value = text_of(i.get("provider"));
    let mut tls = Field::new(
        "instance.tls.mode",
        "certificates",
        FieldKind::Select,
        "acme: public certificates (DNS must point at the server); internal: Caddy's own CA; http_only: plain HTTP (local trials)",
    );
    tls.options = vec!["acme".into(), "internal".into(), "http_only".into()];
    tls.value = text_of(i["tls"].get("mode"));
    let mut email = Field::new(
        "instance.tls.email",
        "certificate e-mail",
        FieldKind::Text,
        "Contact address for the certificate authority (acme only)",
    );
    email.value = text_of(i["tls"].get("email"));
    let mut out = vec![provider, tls, email];
    for (key, kind, help) in [
        (
            "server_type",
            FieldKind::Text,
            "Provider server type (default cx23)",
        ),
        (
            "location",
            FieldKind::Text,
            "Provider location/region (default fsn1)",
        ),
        (
            "volume_size_gb",
            FieldKind::Number,
            "Data volume size in GB (default 20)",
        ),
        (
            "http_port",
            FieldKind::Number,
            "Host port of the proxy for HTTP (default 80)",
        ),
        (
            "https_port",
            FieldKind::Number,
            "Host port of the proxy for HTTPS (default 443)",
        ),
    ] {
        let mut f = Field::new(format!("instance.{key}"), key, kind, help);
        f.value = text_of(i.get(key));
        out.push(f);
    }
    let mut repo = Field::new(
        "backup.repository",
        "backup repository",
        FieldKind::Text,
        "restic repository, e.g. s3:s3.eu-central-003.backblazeb2.com/bucket/name, or a folder for the local target; empty: no backups",
    );
    repo.value = text_of(config["backup"].get("repository"));
    out.push(repo);
    let mut images = Field::new(
        "images",
        "image replacements",
        FieldKind::Lines,
        "One `image = replacement` per line: a mirror, or images built on this machine for the local target",
    );
    images.value = config["images"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} = {}", text_of(Some(v))))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    out.push(images);
    out
}

/// The form of a stored config.
#[must_use]
pub fn form_of(config: &Value) -> InstanceForm {
    let mut apps = vec![];
    if let Some(map) = config["apps"].as_object() {
        for (id, table) in map {
            let kind = table["app"].as_str().unwrap_or_default().to_owned();
            let mut fields = app_fields(&kind, id);
            for f in &mut fields {
                f.value = text_of(table.get(&f.label));
            }
            apps.push(AppForm {
                id: id.clone(),
                summary: nassella_apps::find(&kind)
                    .map(|e| e.summary.to_owned())
                    .unwrap_or_default(),
                kind,
                fields,
                errors: vec![],
            });
        }
    }
    InstanceForm {
        fields: instance_fields(config),
        apps,
        errors: vec![],
        warnings: vec![],
    }
}

/// Apply a submitted form to a stored config: the new config, and the fields that could not be
/// read (a number that is not one, JSON that does not parse) as (path, message).
#[must_use]
pub fn apply_form(config: &Value, pairs: &[(String, String)]) -> (Value, Vec<(String, String)>) {
    let given: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut form = form_of(config);
    let mut errors = vec![];
    let mut out = config.clone();
    let set = |obj: &mut Map<String, Value>, key: &str, v: Option<Value>| match v {
        Some(v) => {
            obj.insert(key.to_owned(), v);
        }
        None => {
            obj.remove(key);
        }
    };
    let read = |f: &Field, errors: &mut Vec<(String, String)>| -> Option<Value> {
        let raw = given.get(f.path.as_str()).copied().unwrap_or("").trim();
        if raw.is_empty() {
            return None;
        }
        match f.kind {
            FieldKind::Text | FieldKind::Select | FieldKind::Lines => {
                Some(Value::String(raw.to_owned()))
            }
            FieldKind::Number => match raw.parse::<u64>() {
                Ok(n) => Some(json!(n)),
                Err(_) => {
                    errors.push((f.path.clone(), format!("`{raw}` is not a whole number")));
                    None
                }
            },
            FieldKind::Bool => match raw {
                "true" => Some(json!(true)),
                "false" => Some(json!(false)),
                _ => {
                    errors.push((f.path.clone(), "choose yes, no or the default".into()));
                    None
                }
            },
            FieldKind::Json => match serde_json::from_str::<Value>(raw) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push((f.path.clone(), format!("not valid JSON: {e}")));
                    None
                }
            },
        }
    };
    // Instance, backup, images.
    let inst = out["instance"].as_object_mut().cloned().unwrap_or_default();
    let mut inst = inst;
    let mut tls = Map::new();
    let mut backup: Option<Value> = None;
    for f in &form.fields {
        let v = read(f, &mut errors);
        match f.path.as_str() {
            "instance.tls.mode" => {
                if let Some(v) = v {
                    tls.insert("mode".into(), v);
                }
            }
            "instance.tls.email" => {
                if let Some(v) = v {
                    tls.insert("email".into(), v);
                }
            }
            "backup.repository" => backup = v.map(|r| json!({ "repository": r })),
            "images" => {
                let mut m = Map::new();
                for (n, line) in text_of(v.as_ref()).lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match line.split_once('=') {
                        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
                            m.insert(
                                a.trim().trim_matches('"').to_owned(),
                                Value::String(b.trim().trim_matches('"').to_owned()),
                            );
                        }
                        _ => errors.push((
                            "images".into(),
                            format!("line {}: write `image = replacement`", n + 1),
                        )),
                    }
                }
                let o = out.as_object_mut().expect("config is an object");
                set(o, "images", (!m.is_empty()).then_some(Value::Object(m)));
            }
            p => {
                let key = p.strip_prefix("instance.").unwrap_or(p);
                set(&mut inst, key, v);
            }
        }
    }
    if !tls.is_empty() {
        inst.insert("tls".into(), Value::Object(tls));
    } else {
        inst.remove("tls");
    }
    out["instance"] = Value::Object(inst);
    {
        let o = out.as_object_mut().expect("config is an object");
        set(o, "backup", backup);
    }
    // Apps.
    for app in &mut form.apps {
        let mut table = Map::new();
        table.insert("app".into(), Value::String(app.kind.clone()));
        for f in &app.fields {
            if let Some(v) = read(f, &mut errors) {
                table.insert(f.label.clone(), v);
            }
        }
        out["apps"][&app.id] = Value::Object(table);
    }
    (out, errors)
}

/// Turn a stored config into a config file's TOML text.
///
/// # Errors
/// When the JSON has no TOML form (it always has, as the web app writes it).
pub fn to_toml(config: &Value) -> Result<String, String> {
    let mut v = config.clone();
    drop_nulls(&mut v);
    let t = toml::Value::try_from(v).map_err(|e| e.to_string())?;
    toml::to_string(&t).map_err(|e| e.to_string())
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The stack of a config, through the CLI's config code; or every problem, as (path, message),
/// with the warnings apart.
pub fn stack_of(config: &Value) -> Result<(nassella_core::Stack, Problems), Problems> {
    let text = to_toml(config).map_err(|e| vec![("config".to_owned(), e)])?;
    let (stack, report) = nassella_cli::config::parse("instance", &text)
        .map_err(|e| vec![("config".to_owned(), e)])?;
    let pairs = |r: &nassella_core::Report, errors: bool| -> Vec<(String, String)> {
        r.problems()
            .iter()
            .filter(|p| (p.severity == nassella_core::Severity::Error) == errors)
            .map(|p| (p.path.clone(), p.kind.to_string()))
            .collect()
    };
    let composed = nassella_core::compose(&stack);
    if report.has_errors() {
        let mut all = pairs(&report, true);
        if let Err(r) = &composed {
            all.extend(pairs(r, true));
        }
        return Err(all);
    }
    match composed {
        Ok(v) => Ok((stack, pairs(v.warnings(), false))),
        Err(r) => Err(pairs(&r, true)),
    }
}

/// Problems as (path, message).
pub type Problems = Vec<(String, String)>;

/// Check a config: errors (which block a deploy) and warnings.
#[must_use]
pub fn check(config: &Value) -> (Problems, Problems) {
    match stack_of(config) {
        Ok((_, warnings)) => (vec![], warnings),
        Err(errors) => (errors, vec![]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_hellos(second_host: &str) -> Value {
        json!({
            "instance": { "name": "acme-web", "provider": "local", "tls": { "mode": "http_only" }, "http_port": 18080 },
            "apps": {
                "hello": { "app": "hello", "host": "hello.localhost" },
                "greet": { "app": "hello", "host": second_host }
            }
        })
    }

    #[test]
    fn a_valid_config_builds_through_the_cli_config_code() {
        let (errors, _) = check(&two_hellos("greet.localhost"));
        assert_eq!(errors, vec![]);
    }

    #[test]
    fn composer_errors_land_at_the_field_they_name() {
        let config = two_hellos("Hello.localhost");
        let (errors, _) = check(&config);
        assert!(
            errors.iter().any(|(p, _)| p == "apps.greet.routes[0].host"),
            "{errors:?}"
        );
        let mut form = form_of(&config);
        form.attach(&errors);
        let host = form
            .apps
            .iter()
            .find(|a| a.id == "greet")
            .unwrap()
            .fields
            .iter()
            .find(|f| f.path == "apps.greet.host")
            .unwrap();
        assert!(
            host.errors.iter().any(|e| e.contains("Hello.localhost")),
            "{:?}",
            host.errors
        );
        assert!(form.errors.is_empty(), "{:?}", form.errors);
    }

    #[test]
    fn a_form_round_trips_and_bad_numbers_are_reported_at_their_field() {
        let config = two_hellos("greet.localhost");
        let pairs: Vec<(String, String)> = vec![
            ("instance.provider".into(), "local".into()),
            ("instance.tls.mode".into(), "http_only".into()),
            ("instance.http_port".into(), "18081".into()),
            ("instance.https_port".into(), "many".into()),
            ("apps.hello.host".into(), "hi.localhost".into()),
            ("apps.greet.host".into(), "greet.localhost".into()),
            ("images".into(), "a:1 = b:2\n\nbad line".into()),
        ];
        let (out, errors) = apply_form(&config, &pairs);
        assert_eq!(out["instance"]["http_port"], json!(18081));
        assert_eq!(out["instance"]["name"], json!("acme-web"));
        assert_eq!(out["apps"]["hello"]["host"], json!("hi.localhost"));
        assert_eq!(out["images"]["a:1"], json!("b:2"));
        assert!(errors.contains(&(
            "instance.https_port".into(),
            "`many` is not a whole number".into()
        )));
        assert!(errors
            .iter()
            .any(|(p, m)| p == "images" && m.contains("line 3")));
    }

    #[test]
    fn hostile_values_stay_values_in_the_toml() {
        let mut c = two_hellos("greet.localhost");
        c["apps"]["greet"]["host"] = json!("x.localhost\"\n[apps.evil]\napp = \"hello\"");
        let text = to_toml(&c).unwrap();
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert!(!parsed["apps"].as_table().unwrap().contains_key("evil"));
        let (errors, _) = check(&c);
        assert!(
            errors.iter().any(|(p, _)| p.starts_with("apps.greet")),
            "{errors:?}"
        );
    }
}
