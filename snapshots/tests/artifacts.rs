//! One insta snapshot per (example, artifact): the exact bytes that ship. Rendered with the
//! fixed, public test master key, so snapshots hold no real secret.

use std::collections::BTreeSet;
use std::path::Path;

use nassella_core::{build, Bundle, Keys, MasterKey, Stack};

fn keys() -> Keys {
    // Fake storage credentials: they must reach the restic env file, never a view.
    Keys::new(MasterKey::insecure_test_key())
        .backup_env("AWS_ACCESS_KEY_ID", "test-key-id")
        .backup_env("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-use")
}

fn bundle(stack: &Stack) -> Bundle {
    match build(stack, &keys()) {
        Ok(b) => b.bundle,
        Err(r) => panic!("example does not build:\n{r}"),
    }
}

fn config_stack(name: &str) -> Stack {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/config/{name}.config"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (stack, report) =
        nassella_cli::config::parse(&format!("examples/config/{name}.config"), &text).unwrap();
    assert!(report.is_empty(), "{report}");
    stack
}

/// Snapshot name of an artifact: `<example>@<path with / as ~>`.
fn snap_name(example: &str, path: &str) -> String {
    // insta turns a `\` in a name into `__` (systemd unit names escape `-` as `\x2d`); do it
    // here so the orphan check compares the names of the files insta writes.
    format!("{example}@{}", path.replace('/', "~").replace('\\', "__"))
}

#[test]
fn every_artifact_of_every_example() {
    let mut expected = BTreeSet::new();
    for (name, stack) in examples::all() {
        let b = bundle(&stack);
        for (path, bytes) in b.files() {
            let text = String::from_utf8(bytes.clone()).expect("artifacts are text");
            let snap = snap_name(name, path);
            insta::assert_snapshot!(snap.clone(), text);
            expected.insert(format!("artifacts__{snap}.snap"));
        }
    }
    // Orphans: a snapshot no test produces any more is an error, not clutter.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("artifacts__") && n.ends_with(".snap"))
        .collect();
    let orphans: Vec<_> = found.difference(&expected).collect();
    assert!(
        orphans.is_empty(),
        "orphaned snapshots (delete them): {orphans:?}"
    );
}

#[test]
fn rendering_twice_gives_identical_bytes() {
    for (name, _) in examples::all() {
        let a = bundle(
            &examples::all()
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1,
        );
        let b = bundle(
            &examples::all()
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1,
        );
        assert_eq!(a, b, "{name} renders differently twice");
    }
}

#[test]
fn config_file_and_rust_program_render_the_same_bytes() {
    assert_eq!(
        bundle(&config_stack("family")),
        bundle(&examples::family::stack())
    );
}

#[test]
fn snapshots_and_views_hold_no_storage_secret() {
    for (name, stack) in examples::all() {
        let b = bundle(&stack);
        for (path, bytes) in b.files() {
            if path == nassella_core::render::IGNITION_FILE {
                continue;
            }
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains("test-secret-do-not-use"),
                "{name}: {path} leaks a credential"
            );
            assert!(
                !text.contains(&keys().restic_password()),
                "{name}: {path} leaks the restic password"
            );
        }
        // The Ignition config does carry it (the server needs it), in a mode-0600 file.
        assert!(b.is_secret(nassella_core::render::IGNITION_FILE));
    }
}

#[test]
fn a_different_master_key_changes_every_secret_but_nothing_else_in_the_views() {
    let stack = examples::family::stack();
    let a = bundle(&stack);
    let b = build(
        &stack,
        &Keys::new(MasterKey::from_bytes([9; 32]))
            .backup_env("AWS_ACCESS_KEY_ID", "test-key-id")
            .backup_env("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-use"),
    )
    .unwrap()
    .bundle;
    assert_ne!(a.ignition(), b.ignition());
    for (path, bytes) in a.files() {
        if path != nassella_core::render::IGNITION_FILE {
            assert_eq!(
                Some(bytes.as_slice()),
                b.get(path),
                "{path} depends on the key but is not secret"
            );
        }
    }
}
