//! The whole catalog: a snapshot per app, every app together through the real Ignition, and the
//! size table in `docs/apps/README.md` (regenerate with `NASSELLA_UPDATE_DOCS=1`).

use std::collections::BTreeSet;
use std::path::Path;

use nassella_core::{build, App, Backup, Instance, Keys, MasterKey, Origin, Provider, Stack};
use nassella_testkit as kit;

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

/// A stack of `apps`, each (id, app).
fn stack_of(provider: Provider, apps: Vec<(&str, Box<dyn App>)>) -> Stack {
    let mut s = Stack::new(Instance::new("catalog").provider(provider)).backup(Backup::new(
        "s3:s3.eu-central-003.backblazeb2.com/catalog/catalog",
    ));
    for (id, a) in apps {
        s = s.app_at(id, a, Origin::file_line("catalog", 1));
    }
    s
}

fn ignition_size(provider: Provider, apps: Vec<(&str, Box<dyn App>)>) -> usize {
    build(&stack_of(provider, apps), &keys())
        .unwrap_or_else(|r| panic!("{r}"))
        .bundle
        .ignition()
        .len()
}

fn examples() -> Vec<(&'static str, Box<dyn App>)> {
    nassella_apps::catalog()
        .iter()
        .map(|e| (e.kind, (e.example)()))
        .collect()
}

#[test]
fn a_snapshot_per_app() {
    let mut expected = BTreeSet::new();
    for (kind, app) in examples() {
        let id = kind;
        let b = build(&stack_of(Provider::Hetzner, vec![(id, app)]), &keys())
            .unwrap_or_else(|r| panic!("{kind}: {r}"));
        let app_dir = format!("instance/etc/nassella/apps/{id}/");
        for (path, bytes) in b.bundle.files() {
            let own = path.starts_with(&app_dir)
                || path == "instance/etc/nassella/proxy/Caddyfile"
                || (path.starts_with("instance/etc/systemd/system/nassella-")
                    && path.contains(&format!("-{id}")));
            if own {
                let snap = format!(
                    "{kind}@{}",
                    path.trim_start_matches("instance/").replace('/', "~")
                );
                insta::assert_snapshot!(snap.clone(), String::from_utf8(bytes.clone()).unwrap());
                expected.insert(format!("catalog__{snap}.snap"));
            }
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("catalog__") && n.ends_with(".snap"))
        .collect();
    let orphans: Vec<_> = found.difference(&expected).collect();
    assert!(
        orphans.is_empty(),
        "orphaned snapshots (delete them): {orphans:?}"
    );
}

/// Every app in one stack (DigitalOcean's 64 KiB user-data limit): the real ignition-validate
/// and the real files stage accept it.
#[test]
fn the_full_catalog_passes_the_real_ignition() {
    let server = kit::serve_file_http(&kit::compose_binary_path());
    let mut stack = stack_of(Provider::DigitalOcean, examples());
    let instance = stack
        .instance()
        .clone()
        .docker_compose(nassella_core::Artifact {
            url: server.url(),
            hash: nassella_core::Artifact::docker_compose_default().hash,
        });
    *stack.instance_mut() = instance;
    let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{r}"));
    kit::ignition_validate(b.bundle.ignition());
    let root = kit::ignition_files_stage(b.bundle.ignition());
    let unpack = nassella_core::render::unpack_command(&root.path().to_string_lossy());
    assert!(std::process::Command::new("sh")
        .arg("-c")
        .arg(unpack)
        .status()
        .unwrap()
        .success());
    for e in nassella_apps::catalog() {
        let id = e.kind;
        assert!(
            root.exists(&format!("etc/nassella/apps/{id}/compose.yaml")),
            "{id}"
        );
        assert!(
            root.enabled_units()
                .contains(&format!("nassella-app@{id}.service")),
            "{id}"
        );
    }
}

/// The table of Ignition sizes in docs/apps/README.md is what the code renders today.
#[test]
fn size_table_is_current() {
    let base_app = || -> (&str, Box<dyn App>) {
        (
            "base",
            Box::new(nassella_apps::Hello::new("base.example.com")),
        )
    };
    let base = ignition_size(Provider::Hetzner, vec![base_app()]);
    let mut rows: Vec<(&str, &str, usize, usize, Option<u32>)> = Vec::new();
    for e in nassella_apps::catalog() {
        let alone = ignition_size(Provider::Hetzner, vec![(e.kind, (e.example)())]);
        let with_base = ignition_size(Provider::Hetzner, vec![base_app(), (e.kind, (e.example)())]);
        let stack = stack_of(Provider::Hetzner, vec![(e.kind, (e.example)())]);
        let mem = nassella_core::compose(&stack).unwrap().apps()[0].memory_hint_mib();
        rows.push((e.kind, e.summary, alone, with_base - base, mem));
    }
    // The heaviest ten together: the worst 10-app stack.
    let mut by_cost: Vec<_> = rows.iter().map(|r| (r.3, r.0)).collect();
    by_cost.sort_by(|a, b| b.cmp(a));
    let heaviest: Vec<&str> = by_cost.iter().take(10).map(|(_, k)| *k).collect();
    let heaviest_apps: Vec<(&str, Box<dyn App>)> = nassella_apps::catalog()
        .iter()
        .filter(|e| heaviest.contains(&e.kind))
        .map(|e| (e.kind, (e.example)()))
        .collect();
    let worst10 = ignition_size(Provider::DigitalOcean, heaviest_apps);
    let all = ignition_size(Provider::DigitalOcean, examples());

    let mut doc = String::from(
        "# The app catalog\n\n\
         Generated by `snapshots/tests/catalog.rs` (`NASSELLA_UPDATE_DOCS=1 cargo test -p snapshots --test catalog`);\n\
         do not edit by hand. Sizes are bytes of `ignition.json` (Hetzner accepts 32 768, DigitalOcean 65 536).\n\n\
         | app | what it is | Ignition alone | added to a stack | memory hint |\n|---|---|---:|---:|---:|\n",
    );
    for (kind, summary, alone, added, mem) in &rows {
        let mem = mem.map_or_else(|| "—".to_owned(), |m| format!("{m} MiB"));
        doc.push_str(&format!(
            "| [{kind}]({kind}.md) | {summary} | {alone} | {added} | {mem} |\n"
        ));
    }
    doc.push_str(&format!(
        "\n* A stack with one small app (hello): {base} bytes; each app adds the bytes in the fourth column.\n\
         * The heaviest ten apps together ({}): **{worst10} bytes**.\n\
         * The whole catalog ({} apps) in one stack: {all} bytes.\n",
        heaviest.join(", "),
        rows.len()
    ));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/apps/README.md");
    if std::env::var_os("NASSELLA_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &doc).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(current, doc, "docs/apps/README.md is stale: run NASSELLA_UPDATE_DOCS=1 cargo test -p snapshots --test catalog");
    println!("{doc}");
}
