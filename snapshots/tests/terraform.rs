//! Offline checks of the cloud Terraform modules (`terraform/hetzner`, `terraform/digitalocean`).
//! No provider can be downloaded here, so `terraform validate`/`plan` of the modules cannot run;
//! what can run does:
//!
//! * `terraform fmt -check` with the real binary;
//! * the tfvars contract: every key `nassella build` writes is a declared variable of the
//!   provider's module with a matching type, and every variable without a default is written;
//! * the modules' own `validation` blocks and locals, evaluated by the real Terraform on the
//!   rendered tfvars (`variables.tf` + `locals.tf` need no provider);
//! * the wiring that keeps data safe, read from the parsed HCL: `user_data` comes from
//!   `var.user_data_file`, the volume has `prevent_destroy`, and DNS depends on the stable IP,
//!   never on the server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hcl::edit::visit::{self as hv, Visit};
use hcl::{Body, Expression};
use nassella_core::{build, Instance, Keys, MasterKey, Provider, Stack};
use serde_json::{Map, Value};

const CLOUD: [Provider; 2] = [Provider::Hetzner, Provider::DigitalOcean];

// ---------------------------------------------------------------------------------------------
// The modules, parsed.

/// Resource addresses whose relations the checks assert, per cloud module.
struct Names {
    server: &'static str,
    volume: &'static str,
    attachment: &'static str,
    ip: &'static str,
    dns: &'static str,
    /// The server's "shut down gracefully before deleting" argument.
    graceful: &'static str,
}

fn names(p: Provider) -> Names {
    match p {
        Provider::Hetzner => Names {
            server: "hcloud_server.server",
            volume: "hcloud_volume.data",
            attachment: "hcloud_volume_attachment.data",
            ip: "hcloud_primary_ip.ipv4",
            dns: "hcloud_zone_rrset.host",
            graceful: "shutdown_before_deletion",
        },
        Provider::DigitalOcean => Names {
            server: "digitalocean_droplet.server",
            volume: "digitalocean_volume.data",
            attachment: "digitalocean_volume_attachment.data",
            ip: "digitalocean_reserved_ip.ipv4",
            dns: "digitalocean_record.host",
            graceful: "graceful_shutdown",
        },
        Provider::Local => unreachable!("not a cloud module"),
    }
}

fn terraform_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform")
}

fn module_dir(p: Provider) -> PathBuf {
    terraform_root().join(p.as_str())
}

/// A module: every `.tf` file, parsed.
struct Module {
    provider: Provider,
    files: BTreeMap<String, Body>,
}

impl Module {
    fn load(p: Provider) -> Self {
        let dir = module_dir(p);
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no Terraform module at {}: {e}", dir.display()))
        {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "tf") {
                let text = std::fs::read_to_string(&path).unwrap();
                let body: Body = hcl::parse(&text)
                    .unwrap_or_else(|e| panic!("{}: not HCL: {e}", path.display()));
                files.insert(
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    body,
                );
            }
        }
        Self { provider: p, files }
    }

    fn blocks<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a hcl::Block> + 'a {
        self.files
            .values()
            .flat_map(|b| b.blocks())
            .filter(move |b| b.identifier() == kind)
    }

    /// `resource "type" "name"` by address `type.name`.
    fn resource(&self, address: &str) -> &Body {
        self.blocks("resource")
            .find(|b| label_address(b) == address)
            .unwrap_or_else(|| panic!("{}: no resource {address}", self.provider))
            .body()
    }

    fn resources(&self) -> impl Iterator<Item = (String, &Body)> {
        self.blocks("resource")
            .map(|b| (label_address(b), b.body()))
    }

    fn variables(&self) -> BTreeMap<String, Variable> {
        let mut out = BTreeMap::new();
        for b in self.blocks("variable") {
            let name = b.labels()[0].as_str().to_owned();
            let body = b.body();
            out.insert(
                name.clone(),
                Variable {
                    ty: body.attributes().find(|a| a.key() == "type").map(|a| {
                        Ty::parse(a.expr())
                            .unwrap_or_else(|| panic!("variable {name}: unsupported type"))
                    }),
                    default: body
                        .attributes()
                        .find(|a| a.key() == "default")
                        .map(|a| a.expr().clone()),
                    description: attr(body, "description").and_then(|e| match e {
                        Expression::String(s) => Some(s.clone()),
                        _ => None,
                    }),
                },
            );
        }
        out
    }

    fn locals(&self) -> BTreeMap<String, Expression> {
        self.blocks("locals")
            .flat_map(|b| b.body().attributes())
            .map(|a| (a.key().to_owned(), a.expr().clone()))
            .collect()
    }

    /// What an expression refers to (`var.x`, `local.y`, `type.name`, `data.type.name`) and the
    /// functions it calls (`fn:file`), following `local.*` to what the locals refer to.
    fn references(&self, expr: &Expression) -> BTreeSet<String> {
        let locals = self.locals();
        let mut seen = BTreeSet::new();
        let mut todo = vec![expr.clone()];
        while let Some(e) = todo.pop() {
            for r in direct_references(&e) {
                if let Some(l) = r.strip_prefix("local.") {
                    if !seen.contains(&r) {
                        let value = locals
                            .get(l)
                            .unwrap_or_else(|| panic!("{}: undefined {r}", self.provider));
                        todo.push(value.clone());
                    }
                }
                seen.insert(r);
            }
        }
        seen
    }

    /// Everything a resource's arguments refer to (nested blocks included).
    fn resource_references(&self, address: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for e in all_exprs(self.resource(address)) {
            out.extend(self.references(&e));
        }
        out
    }
}

fn label_address(b: &hcl::Block) -> String {
    b.labels()
        .iter()
        .map(hcl::BlockLabel::as_str)
        .collect::<Vec<_>>()
        .join(".")
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// Every attribute expression of a body and of its nested blocks.
fn all_exprs(body: &Body) -> Vec<Expression> {
    let mut out: Vec<Expression> = body.attributes().map(|a| a.expr().clone()).collect();
    for b in body.blocks() {
        out.extend(all_exprs(b.body()));
    }
    out
}

#[derive(Default)]
struct RefCollector(BTreeSet<String>);

impl Visit for RefCollector {
    fn visit_traversal(&mut self, node: &hcl::edit::expr::Traversal) {
        if let hcl::edit::expr::Expression::Variable(root) = &node.expr {
            let attrs: Vec<&str> = node
                .operators
                .iter()
                .map_while(|op| match op.value() {
                    hcl::edit::expr::TraversalOperator::GetAttr(i) => Some(i.value().as_str()),
                    _ => None,
                })
                .collect();
            let take = if root.value().as_str() == "data" {
                2
            } else {
                1
            };
            if attrs.len() >= take {
                let mut parts = vec![root.value().as_str()];
                parts.extend(&attrs[..take]);
                self.0.insert(parts.join("."));
            }
        }
        hv::visit_traversal(self, node);
    }

    fn visit_func_call(&mut self, node: &hcl::edit::expr::FuncCall) {
        self.0
            .insert(format!("fn:{}", node.name.name.value().as_str()));
        hv::visit_func_call(self, node);
    }
}

fn direct_references(e: &Expression) -> BTreeSet<String> {
    let edit: hcl::edit::expr::Expression = e.clone().into();
    let mut v = RefCollector::default();
    v.visit_expr(&edit);
    v.0
}

/// A variable's declared type, as far as tfvars need it.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    String,
    Number,
    Bool,
    Any,
    List(Box<Ty>),
    Map(Box<Ty>),
}

impl Ty {
    fn parse(e: &Expression) -> Option<Ty> {
        match e {
            Expression::Variable(v) => match v.as_str() {
                "string" => Some(Ty::String),
                "number" => Some(Ty::Number),
                "bool" => Some(Ty::Bool),
                "any" => Some(Ty::Any),
                _ => None,
            },
            Expression::FuncCall(f) if f.args.len() == 1 => {
                let inner = Box::new(Ty::parse(&f.args[0])?);
                match f.name.name.as_str() {
                    "list" | "set" => Some(Ty::List(inner)),
                    "map" => Some(Ty::Map(inner)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn accepts(&self, v: &Value) -> bool {
        match (self, v) {
            (Ty::Any, _) => !v.is_null(),
            (Ty::String, Value::String(_))
            | (Ty::Number, Value::Number(_))
            | (Ty::Bool, Value::Bool(_)) => true,
            (Ty::List(t), Value::Array(items)) => items.iter().all(|i| t.accepts(i)),
            (Ty::Map(t), Value::Object(items)) => items.values().all(|i| t.accepts(i)),
            _ => false,
        }
    }
}

struct Variable {
    ty: Option<Ty>,
    default: Option<Expression>,
    description: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// What `nassella build` writes.

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

fn built(name: &str, stack: &Stack) -> nassella_core::Bundle {
    match build(stack, &keys()) {
        Ok(b) => b.bundle,
        Err(r) => panic!("{name} does not build:\n{r}"),
    }
}

fn tfvars_of(bundle: &nassella_core::Bundle) -> Map<String, Value> {
    let bytes = bundle
        .get("terraform.tfvars.json")
        .expect("the bundle has terraform.tfvars.json");
    match serde_json::from_slice(bytes).expect("tfvars are JSON") {
        Value::Object(m) => m,
        other => panic!("tfvars are not an object: {other}"),
    }
}

fn with_instance(mut stack: Stack, f: impl FnOnce(Instance) -> Instance) -> Stack {
    let instance = f(stack.instance().clone());
    *stack.instance_mut() = instance;
    stack
}

/// The longest run of trailing labels every hostname shares, when it has at least two labels
/// (`cloud.example.com`, `git.example.com` → `example.com`).
fn common_zone(hostnames: &[String]) -> Option<String> {
    let split: Vec<Vec<&str>> = hostnames
        .iter()
        .map(|h| h.split('.').rev().collect())
        .collect();
    let first = split.first()?;
    let n = (0..first.len())
        .take_while(|&i| split.iter().all(|s| s.get(i) == first.get(i)))
        .count();
    (n >= 2).then(|| {
        let mut labels: Vec<&str> = first[..n].to_vec();
        labels.reverse();
        labels.join(".")
    })
}

fn hostnames(tfvars: &Map<String, Value>) -> Vec<String> {
    tfvars["hostnames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_owned())
        .collect()
}

/// One rendered bundle and the module that must accept it.
struct Case {
    name: String,
    provider: Provider,
    bundle: nassella_core::Bundle,
}

impl Case {
    fn tfvars(&self) -> Map<String, Value> {
        tfvars_of(&self.bundle)
    }
}

/// Every example as written, then every example moved to each cloud provider with every
/// optional setting used (a pinned image and managed DNS), so both modules see every key the
/// renderer can write.
fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (name, stack) in examples::all() {
        let provider = stack.instance().provider_kind();
        let bundle = built(name, &stack);
        let zone = common_zone(&hostnames(&tfvars_of(&bundle)));
        out.push(Case {
            name: name.to_owned(),
            provider,
            bundle,
        });
        for p in CLOUD {
            let (_, stack) = examples::all()
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap();
            let zone = zone.clone();
            let stack = with_instance(stack, |i| {
                // A restored instance: a second volume, attached, the first one kept.
                let i = i
                    .provider(p)
                    .image_id("123456")
                    .dns_ttl(600)
                    .data_volumes(["data", "data-2"], "data-2");
                match zone {
                    Some(z) => i.dns_zone(z),
                    None => i,
                }
            });
            let case_name = format!("{name} on {p} with every option");
            out.push(Case {
                bundle: built(&case_name, &stack),
                name: case_name,
                provider: p,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The real terraform.

fn terraform() -> Option<&'static str> {
    match Command::new("terraform").arg("version").output() {
        Ok(o) if o.status.success() => Some("terraform"),
        _ if std::env::var_os("CI").is_some() => {
            panic!("terraform is not installed, and CI must run these checks")
        }
        _ => {
            eprintln!("SKIPPED: terraform is not on PATH; the Terraform checks did not run");
            None
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("terraform runs")
}

/// A root module made of the module's `variables.tf` and `locals.tf` (which use no provider)
/// plus outputs exposing the locals, ready to evaluate the validations on some tfvars.
fn harness(tf: &str, p: Provider) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["variables.tf", "locals.tf"] {
        std::fs::copy(module_dir(p).join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(
        dir.path().join("harness.tf"),
        "output \"user_data_path\" {\n  value = local.user_data_path\n}\n\
         output \"dns_records\" {\n  value = local.dns_records\n}\n",
    )
    .unwrap();
    let o = run(Command::new(tf)
        .arg(format!("-chdir={}", dir.path().display()))
        .args(["init", "-input=false", "-no-color"]));
    assert!(
        o.status.success(),
        "terraform init: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dir
}

/// Write a bundle to a folder, as `nassella build` does.
fn write_bundle(bundle: &nassella_core::Bundle) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in bundle.files() {
        let to = dir.path().join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, bytes).unwrap();
    }
    dir
}

/// `terraform apply` of the harness from the bundle folder (so `path.cwd` is the bundle, as
/// when the control plane runs `terraform -chdir=<module>` there). Returns the outputs, or the
/// error diagnostics' details.
fn evaluate(
    tf: &str,
    harness: &Path,
    bundle_dir: &Path,
    tfvars: &Map<String, Value>,
) -> Result<Map<String, Value>, BTreeSet<String>> {
    let vars = bundle_dir.join("harness.tfvars.json");
    std::fs::write(&vars, serde_json::to_vec(tfvars).unwrap()).unwrap();
    let state = harness.join("terraform.tfstate");
    let _ = std::fs::remove_file(&state);
    let o = run(Command::new(tf)
        .current_dir(bundle_dir)
        .arg(format!("-chdir={}", harness.display()))
        .args(["apply", "-auto-approve", "-input=false", "-json"])
        .arg(format!("-var-file={}", vars.display())));
    let mut errors = BTreeSet::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["type"] == "diagnostic" && msg["diagnostic"]["severity"] == "error" {
            // The error_message, without Terraform's "This was checked by the validation rule at …".
            let detail = msg["diagnostic"]["detail"].as_str().unwrap_or("");
            let message = detail
                .split("\n\nThis was checked by")
                .next()
                .unwrap_or(detail);
            errors.insert(message.to_owned());
        }
    }
    if !o.status.success() || !errors.is_empty() {
        if errors.is_empty() {
            errors.insert(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        return Err(errors);
    }
    let o = run(Command::new(tf)
        .arg(format!("-chdir={}", harness.display()))
        .args(["output", "-json"]));
    let outputs: Map<String, Value> = serde_json::from_slice(&o.stdout).unwrap();
    Ok(outputs
        .into_iter()
        .map(|(k, v)| (k, v["value"].clone()))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The checks.

#[test]
fn terraform_files_are_formatted() {
    let Some(tf) = terraform() else { return };
    let o = run(Command::new(tf)
        .args(["fmt", "-check", "-recursive", "-diff", "-no-color"])
        .arg(terraform_root()));
    assert!(
        o.status.success(),
        "`terraform fmt -recursive terraform/` would change these files:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every key of every rendered tfvars is a variable of the module for its provider, with a
/// matching type; every variable without a default is written.
#[test]
fn tfvars_match_the_variables_of_the_provider_module() {
    let mut problems = Vec::new();
    let mut modules: BTreeMap<&str, BTreeMap<String, Variable>> = BTreeMap::new();
    for case in cases() {
        let declared = modules
            .entry(case.provider.as_str())
            .or_insert_with(|| Module::load(case.provider).variables());
        let tfvars = case.tfvars();
        for (key, value) in &tfvars {
            match declared.get(key) {
                None => problems.push(format!(
                    "{}: tfvars key `{key}` is not a variable of terraform/{}",
                    case.name, case.provider
                )),
                Some(Variable { ty: None, .. }) => problems.push(format!(
                    "terraform/{}: variable `{key}` has no type",
                    case.provider
                )),
                Some(Variable { ty: Some(ty), .. }) if !ty.accepts(value) => {
                    problems.push(format!(
                        "{}: tfvars `{key}` = {value} does not fit the variable's type {ty:?}",
                        case.name
                    ));
                }
                Some(_) => {}
            }
        }
        for (name, v) in declared.iter() {
            if v.default.is_none() && !tfvars.contains_key(name) {
                problems.push(format!(
                    "{}: terraform/{} requires `{name}` (no default) but the tfvars lack it",
                    case.name, case.provider
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_variable_and_output_is_described() {
    let mut problems = Vec::new();
    for p in CLOUD {
        let m = Module::load(p);
        for (name, v) in m.variables() {
            if v.description.as_deref().is_none_or(|d| d.trim().is_empty()) {
                problems.push(format!(
                    "terraform/{p}: variable `{name}` has no description"
                ));
            }
        }
        for b in m.blocks("output") {
            let described = matches!(attr(b.body(), "description"),
                Some(Expression::String(s)) if !s.trim().is_empty());
            if !described {
                problems.push(format!(
                    "terraform/{p}: output `{}` has no description",
                    b.labels()[0].as_str()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One tfvars contract: both cloud modules declare the same variables with the same types, and
/// every literal default equals what the renderer writes for an instance that keeps defaults.
#[test]
fn cloud_modules_share_one_contract_and_its_defaults() {
    let (h, d) = (
        Module::load(Provider::Hetzner).variables(),
        Module::load(Provider::DigitalOcean).variables(),
    );
    assert_eq!(
        h.keys().collect::<Vec<_>>(),
        d.keys().collect::<Vec<_>>(),
        "the cloud modules declare different variables"
    );
    for (name, v) in &h {
        assert_eq!(v.ty, d[name].ty, "`{name}` has different types");
    }
    for p in CLOUD {
        let vars = Module::load(p).variables();
        let (_, stack) = examples::all().into_iter().next().unwrap();
        let stack = with_instance(stack, |i| {
            Instance::new(i.name().to_owned())
                .provider(p)
                .tls(i.tls_mode().clone())
        });
        let tfvars = tfvars_of(&built("defaults", &stack));
        for (name, v) in &vars {
            let Some(default) = &v.default else { continue };
            let default = serde_json::to_value(hcl::Value::from(default.clone())).unwrap();
            let written = tfvars.get(name).cloned().unwrap_or(Value::Null);
            assert_eq!(
                written, default,
                "terraform/{p}: the default of `{name}` differs from what the renderer writes by default"
            );
        }
    }
}

/// The real Terraform evaluates each module's validations and locals on every rendered tfvars
/// (from the bundle folder, like the control plane): they pass, the Ignition path resolves into
/// the bundle, and a DNS record name is derived for every hostname.
#[test]
fn rendered_tfvars_pass_the_modules_own_validations() {
    let Some(tf) = terraform() else { return };
    let harnesses: BTreeMap<&str, tempfile::TempDir> = CLOUD
        .iter()
        .map(|p| (p.as_str(), harness(tf, *p)))
        .collect();
    let mut problems = Vec::new();
    for case in cases() {
        let Some(h) = harnesses.get(case.provider.as_str()) else {
            continue; // the local target has its own module
        };
        let bundle_dir = write_bundle(&case.bundle);
        let mut tfvars = case.tfvars();
        if case.provider == Provider::DigitalOcean && !tfvars.contains_key("image_id") {
            // An example as written cannot name a custom image of ours; the module requires one
            // (checked below).
            tfvars.insert("image_id".into(), "42".into());
        }
        match evaluate(tf, h.path(), bundle_dir.path(), &tfvars) {
            Err(errors) => problems.push(format!("{}: {errors:?}", case.name)),
            Ok(out) => {
                let ignition = bundle_dir.path().join("ignition.json");
                if out["user_data_path"] != ignition.display().to_string().as_str() {
                    problems.push(format!(
                        "{}: user_data_path {} is not {}",
                        case.name,
                        out["user_data_path"],
                        ignition.display()
                    ));
                }
                let expected: Map<String, Value> = match tfvars.get("dns_zone") {
                    None => Map::new(),
                    Some(zone) => {
                        let zone = zone.as_str().unwrap();
                        hostnames(&tfvars)
                            .into_iter()
                            .map(|h| {
                                let name = if h == zone {
                                    "@".to_owned()
                                } else {
                                    h.strip_suffix(&format!(".{zone}")).unwrap().to_owned()
                                };
                                (h, Value::from(name))
                            })
                            .collect()
                    }
                };
                if out["dns_records"] != Value::Object(expected.clone()) {
                    problems.push(format!(
                        "{}: dns_records {} instead of {}",
                        case.name,
                        out["dns_records"],
                        Value::Object(expected)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Mistakes the modules refuse before any provider is called, each with exactly its message.
#[test]
fn the_modules_refuse_mistaken_tfvars_with_their_own_messages() {
    let Some(tf) = terraform() else { return };
    type Edit = fn(&mut Map<String, Value>);
    let table: [(Provider, &str, Edit, &[&str]); 9] = [
        (
            Provider::DigitalOcean,
            "an attached volume that is not kept",
            |v| {
                v.insert("data_volumes".into(), serde_json::json!(["data", "data-2"]));
                v.insert("active_data_volume".into(), "data-3".into());
            },
            &["The active_data_volume must be one of data_volumes."],
        ),
        (
            Provider::Hetzner,
            "a volume kept twice, and a bad volume name",
            |v| {
                v.insert(
                    "data_volumes".into(),
                    serde_json::json!(["data", "data", "Data_2"]),
                );
            },
            &["The data_volumes must be distinct names of 1 to 20 lowercase letters, digits and '-', starting with a letter (e.g. [\"data\", \"data-2\"])."],
        ),
        (
            Provider::DigitalOcean,
            "no custom image",
            |v| {
                v.remove("image_id");
            },
            &["Set image_id to the numeric id of your Flatcar custom image (instance.image_id in the config); DigitalOcean has no stock Flatcar image."],
        ),
        (
            Provider::Hetzner,
            "another provider's tfvars",
            |v| {
                v.insert("provider_name".into(), "digitalocean".into());
            },
            &["These tfvars were built for another provider: use terraform/<provider>/ for them, or set provider = \"hetzner\" in the config and rebuild."],
        ),
        (
            Provider::Hetzner,
            "a hostname outside the zone",
            |v| {
                v.insert("dns_zone".into(), "example.net".into());
            },
            &["Every hostname must be the dns_zone itself or a name inside it; manage the other names' DNS by hand or pick the zone that holds them all."],
        ),
        (
            Provider::DigitalOcean,
            "no Ignition file",
            |v| {
                v.insert("user_data_file".into(), "missing.json".into());
            },
            &["The user_data_file does not exist: run `nassella build` and start Terraform from the bundle folder, or give an absolute path."],
        ),
        (
            Provider::Hetzner,
            "an ARM server and a tiny volume",
            |v| {
                v.insert("server_type".into(), "cax11".into());
                v.insert("volume_size_gb".into(), 5.into());
            },
            &[
                "The server_type must be a Hetzner x86 server type such as cx23 or cpx22 (ARM cax types are not supported yet).",
                "The volume_size_gb must be a whole number from 10 to 10240.",
            ],
        ),
        (
            Provider::DigitalOcean,
            "the proxy's port as an app port, a short TTL",
            |v| {
                v.insert("tcp_ports".into(), serde_json::json!([2222, 443]));
                v.insert("dns_ttl".into(), 5.into());
            },
            &[
                "Every TCP port must be a whole number from 1 to 65535 other than 80 and 443 (the proxy's).",
                "The dns_ttl must be a whole number of seconds from 60 to 86400.",
            ],
        ),
        (
            Provider::Hetzner,
            "a bad instance name and hostname",
            |v| {
                v.insert("instance_name".into(), "Family".into());
                v.insert("hostnames".into(), serde_json::json!(["Cloud.example.com"]));
            },
            &[
                "The instance_name must be 1 to 40 lowercase letters, digits and '-', start with a letter and not end with '-'.",
                "Every hostname must be a lowercase fully qualified name such as cloud.example.com.",
            ],
        ),
    ];
    let mut problems = Vec::new();
    for (p, what, edit, expected) in table {
        let stack = with_instance(
            examples::all()
                .into_iter()
                .find(|(n, _)| *n == "family")
                .unwrap()
                .1,
            |i| i.provider(p).image_id("42").dns_zone("example.com"),
        );
        let bundle = built(what, &stack);
        let bundle_dir = write_bundle(&bundle);
        let h = harness(tf, p);
        let mut tfvars = tfvars_of(&bundle);
        edit(&mut tfvars);
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        match evaluate(tf, h.path(), bundle_dir.path(), &tfvars) {
            Ok(_) => problems.push(format!("terraform/{p}, {what}: accepted")),
            Err(errors) if errors != expected => problems.push(format!(
                "terraform/{p}, {what}:\n  got      {errors:?}\n  expected {expected:?}"
            )),
            Err(_) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The server boots the bundle's Ignition config: `user_data = sensitive(file(<path>))` where the
/// path is `var.user_data_file` (through `local.user_data_path`). A change of the file therefore
/// changes `user_data`, which both providers treat as ForceNew.
#[test]
fn user_data_is_the_file_named_by_user_data_file() {
    for p in CLOUD {
        let m = Module::load(p);
        let n = names(p);
        let server = m.resource(n.server);
        let Some(Expression::FuncCall(outer)) = attr(server, "user_data") else {
            panic!("{}: user_data is not a function call", n.server)
        };
        assert_eq!(outer.name.name.as_str(), "sensitive", "{}", n.server);
        let Some(Expression::FuncCall(file)) = outer.args.first() else {
            panic!("{}: user_data is not sensitive(file(…))", n.server)
        };
        assert_eq!(file.name.name.as_str(), "file", "{}", n.server);
        assert_eq!(file.args.len(), 1);
        let refs = m.references(&file.args[0]);
        let vars: BTreeSet<&str> = refs
            .iter()
            .filter(|r| r.starts_with("var."))
            .map(String::as_str)
            .collect();
        assert_eq!(
            vars,
            BTreeSet::from(["var.user_data_file"]),
            "{}: the Ignition path must come from var.user_data_file alone",
            n.server
        );
    }
}

/// The volume survives everything: `prevent_destroy`, no reference to the server (a server
/// replacement cannot replace it), and a separate attachment joining the two. Providers do not
/// format it (the instance does, only when blank). The server shuts down gracefully, never
/// gets SSH keys of ours, and is never created before the old one is destroyed (the IP, the
/// volume and the name can belong to one server at a time).
#[test]
fn the_data_volume_is_kept_and_attached_separately() {
    for p in CLOUD {
        let m = Module::load(p);
        let n = names(p);
        let volume = m.resource(n.volume);
        let lifecycle = volume
            .blocks()
            .find(|b| b.identifier() == "lifecycle")
            .unwrap_or_else(|| panic!("{}: no lifecycle block", n.volume));
        assert_eq!(
            attr(lifecycle.body(), "prevent_destroy"),
            Some(&Expression::Bool(true)),
            "{}: prevent_destroy must be true",
            n.volume
        );
        for key in [
            "format",
            "initial_filesystem_type",
            "initial_filesystem_label",
        ] {
            assert!(
                attr(volume, key).is_none(),
                "{}: `{key}`: the instance formats the volume",
                n.volume
            );
        }
        let volume_refs = m.resource_references(n.volume);
        assert!(
            !volume_refs.contains(n.server),
            "{}: must not depend on the server",
            n.volume
        );

        let attachment = m.resource_references(n.attachment);
        assert!(
            attachment.contains(n.volume) && attachment.contains(n.server),
            "{}: must join {} and {}: {attachment:?}",
            n.attachment,
            n.volume,
            n.server
        );
        check_every_volume_kept_and_only_the_active_one_attached(&m, &n);

        let server = m.resource(n.server);
        assert_eq!(
            attr(server, n.graceful),
            Some(&Expression::Bool(true)),
            "{}: {} must be true",
            n.server,
            n.graceful
        );
        assert!(
            !m.resource_references(n.server).contains(n.volume),
            "{}: must not reference the volume (volume_ids would fight the attachment)",
            n.server
        );
        match p {
            Provider::Hetzner => assert!(attr(server, "ssh_keys").is_none(), "no SSH keys"),
            _ => {
                let keys = m.references(attr(server, "ssh_keys").expect("DigitalOcean needs one"));
                assert_eq!(
                    keys,
                    BTreeSet::from(["digitalocean_ssh_key.inert".to_owned()]),
                    "only the inert key"
                );
            }
        }
        for (address, body) in m.resources() {
            let cbd = body
                .blocks()
                .filter(|b| b.identifier() == "lifecycle")
                .any(|b| attr(b.body(), "create_before_destroy").is_some());
            assert!(
                !cbd,
                "{address}: create_before_destroy would clash with the single volume and IP"
            );
        }
    }
}

/// DNS depends on the stable IP and on DNS settings only, never on the server: replacing the
/// server leaves every record as it is, and changing DNS settings plans no server change.
#[test]
fn dns_depends_on_the_stable_ip_never_on_the_server() {
    for p in CLOUD {
        let m = Module::load(p);
        let n = names(p);
        let refs = m.resource_references(n.dns);
        let resources: BTreeSet<&str> = refs
            .iter()
            .filter(|r| {
                !r.starts_with("var.")
                    && !r.starts_with("local.")
                    && !r.starts_with("fn:")
                    && !r.starts_with("each.")
            })
            .map(String::as_str)
            .collect();
        assert_eq!(
            resources,
            BTreeSet::from([n.ip]),
            "{}: DNS records must depend on {} only",
            n.dns,
            n.ip
        );
        let ip = m.resource_references(n.ip);
        assert!(
            !ip.contains(n.server),
            "{}: must not depend on the server",
            n.ip
        );
        let server = m.resource_references(n.server);
        assert!(
            !server.iter().any(|r| r == "var.dns_zone"
                || r == "var.dns_ttl"
                || r == "var.hostnames"
                || r == n.dns),
            "{}: must not read DNS settings: {server:?}",
            n.server
        );
    }
}

/// The local target's stand-in for DNS (hosts and zone files) and its instance are independent:
/// a change of `dns_zone`/`dns_ttl` replaces only `terraform_data.dns`, and the instance reads no
/// DNS setting (`nassella-cli/tests/local_target.rs` shows the same end to end).
#[test]
fn local_dns_and_instance_do_not_depend_on_each_other() {
    let m = Module::load(Provider::Local);
    let dns = m.resource_references("terraform_data.dns");
    assert!(
        !dns.contains("terraform_data.instance"),
        "terraform_data.dns must not depend on the instance: {dns:?}"
    );
    for v in ["var.dns_zone", "var.dns_ttl", "var.hostnames"] {
        assert!(dns.contains(v), "terraform_data.dns must use {v}: {dns:?}");
    }
    let instance = m.resource_references("terraform_data.instance");
    assert!(
        !instance.iter().any(|r| r == "var.dns_zone"
            || r == "var.dns_ttl"
            || r == "local.dns_records"
            || r == "terraform_data.dns"),
        "terraform_data.instance must not read DNS settings: {instance:?}"
    );
}

/// The config file's `[instance]` keys for the cloud modules reach the tfvars unchanged.
#[test]
fn config_file_keys_reach_the_tfvars() {
    let text = r#"
[instance]
name = "trial"
provider = "digitalocean"
server_type = "s-1vcpu-2gb"
location = "ams3"
image_id = "987654"
image_selector = "os=flatcar,channel=beta"
dns_zone = "example.org"
dns_ttl = 120

[apps.hello]
app = "hello"
host = "hello.example.org"
"#;
    let (stack, report) = nassella_cli::config::parse("trial.config", text).unwrap();
    assert!(report.is_empty(), "{report}");
    let tfvars = tfvars_of(&built("trial.config", &stack));
    let expected = serde_json::json!({
        "provider_name": "digitalocean",
        "image_id": "987654",
        "image_selector": "os=flatcar,channel=beta",
        "dns_zone": "example.org",
        "dns_ttl": 120,
        "hostnames": ["hello.example.org"],
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(tfvars.get(k), Some(v), "tfvars `{k}`");
    }
}

/// `nassella destroy` plans `terraform plan -destroy -target=…` over
/// `Cloud::destroy_targets`: every resource of the module except the data volume and, on
/// DigitalOcean, the tag the volume carries. A bare `terraform destroy` would fail on the volume's
/// `prevent_destroy`; a target the volume depended on would take the volume with it.
#[test]
fn destroy_targets_every_resource_but_the_data_volume() {
    use nassella_cli::cloud::Cloud;
    for (p, cloud) in [
        (Provider::Hetzner, Cloud::Hetzner),
        (Provider::DigitalOcean, Cloud::DigitalOcean),
    ] {
        let m = Module::load(p);
        let n = names(p);
        let all: BTreeSet<String> = m.resources().map(|(a, _)| a).collect();
        let targets: BTreeSet<String> = cloud
            .destroy_targets()
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        let unknown: Vec<_> = targets.difference(&all).collect();
        assert!(
            unknown.is_empty(),
            "terraform/{p}: destroy targets that are not resources: {unknown:?}"
        );
        let mut kept = BTreeSet::from([n.volume.to_owned()]);
        if p == Provider::DigitalOcean {
            kept.insert("digitalocean_tag.instance".to_owned());
        }
        let left: BTreeSet<String> = all.difference(&targets).cloned().collect();
        assert_eq!(
            left, kept,
            "terraform/{p}: `nassella destroy` must remove every resource but the data volume"
        );
        let volume_refs = m.resource_references(n.volume);
        let taken: Vec<_> = targets.intersection(&volume_refs).collect();
        assert!(
            taken.is_empty(),
            "terraform/{p}: the volume depends on destroy targets {taken:?}; destroying them would destroy it"
        );
        assert!(
            !targets.contains(n.volume),
            "terraform/{p}: the volume is never a destroy target"
        );
    }
}

/// Every data volume in `var.data_volumes` is a `for_each` instance of the one protected
/// resource (so `prevent_destroy` holds for each, and for a restore's new one); the attachment
/// takes exactly the volume named by `var.active_data_volume`; a `moved` block keeps the volume of
/// a deployment made before, at the un-keyed address, as the `data` instance (no replacement).
fn check_every_volume_kept_and_only_the_active_one_attached(m: &Module, n: &Names) {
    let volumes: Vec<_> = m
        .resources()
        .filter(|(a, _)| a.split('.').next() == n.volume.split('.').next())
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        volumes,
        [n.volume],
        "{}: one volume resource (for_each over var.data_volumes), not several",
        m.provider
    );
    let volume = m.resource(n.volume);
    let for_each = attr(volume, "for_each")
        .unwrap_or_else(|| panic!("{}: no for_each over var.data_volumes", n.volume));
    let refs = m.references(for_each);
    assert!(
        refs.contains("var.data_volumes"),
        "{}: for_each must be var.data_volumes: {refs:?}",
        n.volume
    );
    let name = m.references(attr(volume, "name").expect("the volume has a name"));
    assert!(
        name.contains("var.instance_name") && name.contains("each.key"),
        "{}: named <instance>-<name> so the first is <instance>-data as before: {name:?}",
        n.volume
    );
    let volume_id = attr(m.resource(n.attachment), "volume_id")
        .unwrap_or_else(|| panic!("{}: no volume_id", n.attachment));
    let Expression::Traversal(t) = volume_id else {
        panic!(
            "{}: volume_id must be {}[var.active_data_volume].id",
            n.attachment, n.volume
        )
    };
    let index = t.operators.iter().find_map(|op| match op {
        hcl::TraversalOperator::Index(e) => Some(e.clone()),
        _ => None,
    });
    assert_eq!(
        index.as_ref().map(|e| m.references(e)),
        Some(BTreeSet::from(["var.active_data_volume".to_owned()])),
        "{}: volume_id must index {} by var.active_data_volume alone",
        n.attachment,
        n.volume
    );
    let moved: Vec<(String, String)> = m
        .blocks("moved")
        .map(|b| {
            let get = |k: &str| {
                let e: hcl::edit::expr::Expression = attr(b.body(), k).unwrap().clone().into();
                e.to_string().trim().to_owned()
            };
            (get("from"), get("to"))
        })
        .collect();
    assert!(
        moved.contains(&(n.volume.to_owned(), format!("{}[\"data\"]", n.volume))),
        "{}: a moved block must keep an existing deployment's {} as {}[\"data\"]: {moved:?}",
        m.provider,
        n.volume,
        n.volume
    );
}

/// The first volume's name is the one an existing deployment has, so nothing is renamed.
#[test]
fn the_first_data_volume_is_the_default_and_named_as_before() {
    assert_eq!(nassella_core::FIRST_DATA_VOLUME, "data");
    for p in CLOUD {
        let vars = Module::load(p).variables();
        for (name, want) in [
            ("data_volumes", serde_json::json!(["data"])),
            ("active_data_volume", serde_json::json!("data")),
        ] {
            let default = vars[name]
                .default
                .clone()
                .unwrap_or_else(|| panic!("terraform/{p}: `{name}` needs a default"));
            assert_eq!(
                serde_json::to_value(hcl::Value::from(default)).unwrap(),
                want,
                "terraform/{p}: `{name}`"
            );
        }
    }
}
