//! The examples are programs: they build, and their binaries drive the same commands as the CLI.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use nassella_core::{build, compose, Keys, MasterKey};

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// The report shown in `src/mistake.rs`'s docs, read from the file itself.
fn documented_mistake_report() -> String {
    let src = include_str!("../src/mistake.rs");
    let block: Vec<&str> = src
        .lines()
        .skip_while(|l| *l != "//! ```text")
        .skip(1)
        .take_while(|l| *l != "//! ```")
        .map(|l| l.trim_start_matches("//! "))
        .collect();
    block.join("\n")
}

#[test]
fn mistake_report_is_exact() {
    let report = compose(&examples::mistake::stack()).unwrap_err();
    assert_eq!(report.to_string(), documented_mistake_report());
}

#[test]
fn every_example_builds_without_warnings() {
    for (name, stack) in examples::all() {
        let b = build(&stack, &Keys::new(MasterKey::insecure_test_key()))
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        assert!(b.warnings.is_empty(), "{name}: {}", b.warnings);
    }
}

#[test]
fn family_binary_builds_the_same_bundle_as_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_family"))
        .args(["build", "--out"])
        .arg(&out)
        .env("NASSELLA_MASTER_KEY", KEY)
        .status()
        .unwrap();
    assert!(status.success());
    let lib = build(
        &examples::family::stack(),
        &Keys::new(MasterKey::insecure_test_key()),
    )
    .unwrap();
    for (path, bytes) in lib.bundle.files() {
        assert_eq!(&std::fs::read(out.join(path)).unwrap(), bytes, "{path}");
    }
    let mode = std::fs::metadata(out.join("ignition.json"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "ignition.json holds secrets");
}

#[test]
fn mistake_binary_fails_validation_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let res = Command::new(env!("CARGO_BIN_EXE_mistake"))
        .args(["build", "--out"])
        .arg(&out)
        .env("NASSELLA_MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(3));
    let stderr = String::from_utf8(res.stderr).unwrap();
    assert!(stderr.contains(&documented_mistake_report()), "{stderr}");
    assert!(stderr.contains("nothing was written"));
    assert!(!out.exists());
}

/// Every code block of docs/apps/authoring.md that names a file (```` ```rust file=PATH ````) is
/// found, verbatim, in that file: the guide walks through what the greeter example does, and the
/// greeter is built and tested with the workspace.
#[test]
fn the_authoring_guide_shows_the_greeter_as_it_is() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/apps/authoring.md")).unwrap();
    let mut checked = 0;
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("```")
            .and_then(|info| info.split_once(" file="))
            .map(|(_, path)| path)
        else {
            continue;
        };
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let block = block.join("\n");
        let source = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("the guide names {path}: {e}"));
        assert!(
            !block.trim().is_empty() && source.contains(&block),
            "docs/apps/authoring.md shows a block of {path} that the file does not have:\n{block}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} blocks name a file");
}
