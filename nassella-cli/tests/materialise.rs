//! The materialiser against the real Ignition `files` stage: for every example config and for a
//! stack of the whole catalog, both write the same tree (bytes, modes, masks, enabled units),
//! apart from the remote docker-compose binary (which the materialiser skips and reports) and
//! the seeded account files Ignition edits. Plus unit tests of the materialiser's own rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use nassella_cli::materialise::{materialise, Options, Report, PRESET_FILE};
use nassella_core::{
    build, App, Artifact, Backup, Instance, Keys, MasterKey, Origin, Provider, Stack,
};
use nassella_testkit as kit;

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

/// Point the stack's docker compose download at the local mirror, so the files stage works offline.
fn with_compose_mirror(mut stack: Stack) -> Stack {
    let instance = stack.instance().clone().docker_compose(Artifact {
        url: kit::instance::compose_mirror_url(),
        hash: Artifact::docker_compose_default().hash,
    });
    *stack.instance_mut() = instance;
    stack
}

fn example_stacks() -> Vec<(String, Stack)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "config"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no example configs in {}", dir.display());
    paths
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            let text = fs::read_to_string(&p).unwrap();
            let (stack, report) =
                nassella_cli::config::parse(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!report.has_errors(), "{name}: {report}");
            (name, stack)
        })
        .collect()
}

fn catalog_stack() -> Stack {
    let mut s = Stack::new(Instance::new("catalog").provider(Provider::DigitalOcean)).backup(
        Backup::new("s3:s3.eu-central-003.backblazeb2.com/catalog/catalog"),
    );
    let apps: Vec<Box<dyn App>> = nassella_apps::catalog()
        .iter()
        .map(|e| (e.example)())
        .collect();
    for a in apps {
        s = s.app_at(a, Origin::file_line("catalog", 1));
    }
    s
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    File { mode: u32, sha: String, len: usize },
    Link { target: String },
    Dir { mode: u32 },
}

fn node(path: &Path) -> Node {
    use sha2::Digest as _;
    let meta = fs::symlink_metadata(path).unwrap();
    let mode = meta.permissions().mode() & 0o7777;
    if meta.file_type().is_symlink() {
        Node::Link {
            target: fs::read_link(path).unwrap().display().to_string(),
        }
    } else if meta.is_dir() {
        Node::Dir { mode }
    } else {
        let bytes = fs::read(path).unwrap();
        Node::File {
            mode,
            sha: sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            len: bytes.len(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.strip_prefix(root).unwrap().display().to_string());
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            walk(root, &p, out);
        }
    }
}

/// Entries left out of the comparison: the account database the testkit seeds and Ignition edits, and the
/// folders the testkit seeds (`etc`, `root`, `home`: they exist on every Flatcar).
fn ignored(rel: &str) -> bool {
    rel == "etc"
        || ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"].contains(&rel)
        || rel == "home"
        || rel.starts_with("home/")
        || rel == "root"
}

/// The tree of a root, minus the preset file (compared as a set), minus ignored entries, and
/// minus folders holding nothing but ignored entries.
fn tree(root: &Path, rels: Vec<String>) -> BTreeMap<String, Node> {
    let kept: Vec<String> = rels
        .into_iter()
        .filter(|r| !ignored(r) && r != PRESET_FILE)
        .collect();
    let mut out = BTreeMap::new();
    for rel in &kept {
        let n = node(&root.join(rel));
        if matches!(n, Node::Dir { .. }) {
            let prefix = format!("{rel}/");
            let holds_something = kept.iter().any(|o| {
                o.starts_with(&prefix) && !fs::symlink_metadata(root.join(o)).unwrap().is_dir()
            }) || rel == "etc/systemd/system-preset";
            if !holds_something {
                continue;
            }
        }
        out.insert(rel.clone(), n);
    }
    out
}

/// `enable x` lines of a preset file, instances expanded like the testkit does.
fn preset_enabled(text: &str) -> BTreeSet<String> {
    let mut units = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("enable") {
            continue;
        }
        let unit = words.next().unwrap();
        let instances: Vec<&str> = words.collect();
        if instances.is_empty() {
            units.insert(unit.to_owned());
        } else {
            let (stem, suffix) = unit.split_at(unit.rfind('.').unwrap());
            for i in instances {
                units.insert(format!("{stem}{i}{suffix}"));
            }
        }
    }
    units
}

/// Run both on `stack` and compare.
fn same_as_ignition(name: &str, stack: Stack) -> Report {
    let stack = with_compose_mirror(stack);
    let built = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
    let ignition = built.bundle.ignition();

    let real = kit::ignition_files_stage(ignition);
    let ours = tempfile::tempdir().unwrap();
    let report = materialise(ignition, ours.path(), &Options::default())
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));

    let real_tree = tree(real.path(), real.list_files().into_keys().collect());
    let mut our_rels = Vec::new();
    walk(ours.path(), ours.path(), &mut our_rels);
    let our_tree = tree(ours.path(), our_rels);
    let real_keys: BTreeSet<_> = real_tree.keys().collect();
    let our_keys: BTreeSet<_> = our_tree.keys().collect();
    assert_eq!(
        real_keys.difference(&our_keys).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "{name}: only Ignition wrote these"
    );
    assert_eq!(
        our_keys.difference(&real_keys).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "{name}: only the materialiser wrote these"
    );
    for (rel, n) in &real_tree {
        assert_eq!(Some(n), our_tree.get(rel), "{name}: {rel} differs");
    }
    assert!(real_tree.len() > 10, "{name}: suspiciously small tree");

    // Enabled units: the same set, from Ignition's preset file, ours and the report.
    let ours_preset = fs::read_to_string(ours.path().join(PRESET_FILE)).unwrap();
    assert_eq!(real.enabled_units(), preset_enabled(&ours_preset), "{name}");
    assert_eq!(real.enabled_units(), report.enabled_units, "{name}");
    assert!(real.disabled_units().is_empty() && report.disabled_units.is_empty());
    assert_eq!(
        real.mode(PRESET_FILE),
        fs::symlink_metadata(ours.path().join(PRESET_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        "{name}: preset file mode"
    );
    let mut sorted: Vec<&str> = ours_preset.lines().collect();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ours_preset.lines().collect::<Vec<_>>(),
        "{name}: sorted"
    );
    assert_eq!(real.masked_units(), report.masked_units, "{name}");
    assert!(
        !report.masked_units.is_empty(),
        "{name}: the config masks units"
    );

    // No remote file: nassella-compose-install.service downloads the compose binary at boot.
    assert!(report.skipped_remote.is_empty(), "{name}: {report:?}");
    assert!(!real.path().join("opt/bin/docker-compose").exists());

    // Recorded, not applied.
    assert_eq!(report.users.len(), 1);
    assert_eq!(report.users[0].name, "core");
    assert_eq!(report.users[0].shell.as_deref(), Some("/sbin/nologin"));
    assert!(real
        .read_to_string("etc/passwd")
        .contains(":/sbin/nologin\n"));
    assert_eq!(
        report.kernel_arguments_should_not_exist,
        ["flatcar.autologin"]
    );
    assert!(!ours.path().join("etc/passwd").exists());
    report
}

#[test]
fn every_example_config_matches_the_real_files_stage() {
    for (name, stack) in example_stacks() {
        same_as_ignition(&name, stack);
    }
}

#[test]
fn the_whole_catalog_matches_the_real_files_stage() {
    let report = same_as_ignition("catalog", catalog_stack());
    for e in nassella_apps::catalog() {
        let id = (e.example)().id().to_owned();
        assert!(
            report
                .enabled_units
                .contains(&format!("nassella-app@{id}.service")),
            "{id}"
        );
    }
}

#[test]
fn materialising_is_deterministic() {
    let (_, stack) = example_stacks().remove(0);
    let ignition = build(&stack, &keys()).unwrap().bundle.ignition().to_vec();
    let trees: Vec<BTreeMap<String, Node>> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            materialise(&ignition, dir.path(), &Options::default()).unwrap();
            let mut rels = Vec::new();
            walk(dir.path(), dir.path(), &mut rels);
            rels.into_iter()
                .map(|r| (r.clone(), node(&dir.path().join(&r))))
                .collect()
        })
        .collect();
    assert_eq!(trees[0], trees[1]);
}

// ---- unit tests of the materialiser's own rules ----

fn config(storage: &str, systemd: &str) -> Vec<u8> {
    format!(
        r#"{{"ignition":{{"version":"3.3.0"}},"storage":{{{storage}}},"systemd":{{{systemd}}}}}"#
    )
    .into_bytes()
}

fn err_of(cfg: &[u8], root: &Path) -> String {
    format!(
        "{:#}",
        materialise(cfg, root, &Options::default()).expect_err("must fail")
    )
}

#[test]
fn percent_encoded_data_url() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        r#""files":[{"path":"/etc/a/b.txt","mode":384,"contents":{"source":"data:,hello%20w%C3%B6rld%0A%25"}}]"#,
        "",
    );
    let report = materialise(&cfg, dir.path(), &Options::default()).unwrap();
    let p = dir.path().join("etc/a/b.txt");
    assert_eq!(fs::read(&p).unwrap(), "hello wörld\n%".as_bytes());
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    assert_eq!(
        fs::metadata(dir.path().join("etc/a"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
    assert_eq!(report.written, ["/etc/a/b.txt"]);
}

#[test]
fn base64_and_gzip_data_urls() {
    use base64::Engine as _;
    use std::io::Write as _;
    let text = b"compressed contents\n".repeat(20);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&text).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let cfg = config(
        &format!(
            r#""files":[{{"path":"/gz","contents":{{"compression":"gzip","source":"data:;base64,{}"}}}},
                        {{"path":"/plain","contents":{{"source":"data:;base64,{}"}}}}]"#,
            b64.encode(gz.finish().unwrap()),
            b64.encode(b"plain\0bytes")
        ),
        "",
    );
    let dir = tempfile::tempdir().unwrap();
    materialise(&cfg, dir.path(), &Options::default()).unwrap();
    assert_eq!(fs::read(dir.path().join("gz")).unwrap(), text);
    assert_eq!(fs::read(dir.path().join("plain")).unwrap(), b"plain\0bytes");
    assert_eq!(
        fs::metadata(dir.path().join("gz"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o644,
        "default mode"
    );
}

#[test]
fn renderer_data_urls_round_trip() {
    // Whatever encoding the renderer picks (percent, base64, gzip), the bytes come back.
    let samples: [&[u8]; 3] = [b"short", &[0u8, 1, 2, 255, 254], &b"x = 1\n".repeat(500)];
    for s in samples {
        let url = nassella_core::render::dataurl::encode(s);
        let compression = url
            .compression
            .map(|c| format!(r#","compression":"{c}""#))
            .unwrap_or_default();
        let cfg = config(
            &format!(
                r#""files":[{{"path":"/f","contents":{{"source":"{}"{compression}}}}}]"#,
                url.source
            ),
            "",
        );
        let dir = tempfile::tempdir().unwrap();
        materialise(&cfg, dir.path(), &Options::default()).unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), s);
    }
}

#[test]
fn an_existing_file_is_refused_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/x"), "old").unwrap();
    for overwrite in ["", r#""overwrite":false,"#] {
        let cfg = config(
            &format!(
                r#""files":[{{"path":"/etc/x",{overwrite}"contents":{{"source":"data:,new"}}}}]"#
            ),
            "",
        );
        let e = err_of(&cfg, dir.path());
        assert!(
            e.contains("storage.files[0]") && e.contains("overwrite"),
            "{e}"
        );
        assert_eq!(fs::read_to_string(dir.path().join("etc/x")).unwrap(), "old");
    }
    let cfg = config(
        r#""files":[{"path":"/etc/x","overwrite":true,"contents":{"source":"data:,new"}}]"#,
        "",
    );
    materialise(&cfg, dir.path(), &Options::default()).unwrap();
    assert_eq!(fs::read_to_string(dir.path().join("etc/x")).unwrap(), "new");
}

#[test]
fn unsupported_features_name_their_config_path() {
    let dir = tempfile::tempdir().unwrap();
    for (storage, path) in [
        (
            r#""links":[{"path":"/a","target":"/b"}]"#,
            "storage.links[0]",
        ),
        (r#""directories":[{"path":"/d"}]"#, "storage.directories[0]"),
        (
            r#""filesystems":[{"device":"/dev/sda","format":"ext4"}]"#,
            "storage.filesystems[0]",
        ),
        (r#""disks":[{"device":"/dev/sda"}]"#, "storage.disks[0]"),
        (
            r#""files":[{"path":"/a","append":[{"source":"data:,x"}]}]"#,
            "storage.files[0].append[0]",
        ),
    ] {
        let e = err_of(&config(storage, ""), dir.path());
        assert!(e.contains(path) && e.contains("not supported"), "{e}");
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn bad_configs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = err_of(br#"{"ignition":{"version":"3.4.0"}}"#, dir.path());
    assert!(e.contains("3.3.0"), "{e}");
    let e = err_of(br#"{"ignition":{"version":"3.3.0"},"bogus":1}"#, dir.path());
    assert!(e.contains("unknown keys") && e.contains("bogus"), "{e}");
    let e = err_of(
        &config(
            r#""files":[{"path":"/../escape","contents":{"source":"data:,x"}}]"#,
            "",
        ),
        dir.path(),
    );
    assert!(e.contains("storage.files[0]") && e.contains(".."), "{e}");
    let e = err_of(
        &config(
            r#""files":[{"path":"/f","contents":{"source":"data:,%zz"}}]"#,
            "",
        ),
        dir.path(),
    );
    assert!(e.contains("percent"), "{e}");
    let e = err_of(
        &config(
            r#""files":[{"path":"/f","contents":{"source":"data:,x","verification":{"hash":"sha256-00"}}}]"#,
            "",
        ),
        dir.path(),
    );
    assert!(e.contains("hash mismatch"), "{e}");
}

#[test]
fn units_dropins_masks_and_presets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "",
        r#""units":[
          {"name":"b.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n"},
          {"name":"docker.service","dropins":[{"name":"10-x.conf","contents":"[Unit]\n"}]},
          {"name":"app@.service","contents":"[Service]\n"},
          {"name":"app@z.service","enabled":true},
          {"name":"app@a.service","enabled":true},
          {"name":"update-engine.service","mask":true}
        ]"#,
    );
    let report = materialise(&cfg, dir.path(), &Options::default()).unwrap();
    let sys = dir.path().join("etc/systemd/system");
    assert_eq!(
        fs::read_to_string(sys.join("b.service")).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    assert_eq!(
        fs::read_to_string(sys.join("docker.service.d/10-x.conf")).unwrap(),
        "[Unit]\n"
    );
    assert!(!sys.join("docker.service").exists());
    assert_eq!(
        fs::read_link(sys.join("update-engine.service")).unwrap(),
        Path::new("/dev/null")
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(PRESET_FILE)).unwrap(),
        "enable app@a.service\nenable app@z.service\nenable b.service\n"
    );
    assert_eq!(
        report.enabled_units,
        BTreeSet::from(["app@a.service", "app@z.service", "b.service"].map(String::from))
    );
    assert_eq!(
        report.masked_units,
        BTreeSet::from(["update-engine.service".to_owned()])
    );
}

#[test]
fn remote_files_are_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        r#""files":[{"path":"/opt/bin/tool","mode":493,"contents":{"source":"https://example.invalid/tool","verification":{"hash":"sha256-abc"}}}]"#,
        "",
    );
    let report = materialise(&cfg, dir.path(), &Options::default()).unwrap();
    assert_eq!(report.skipped_remote.len(), 1);
    let r = &report.skipped_remote[0];
    assert_eq!(
        (r.path.as_str(), r.url.as_str(), r.hash.as_deref(), r.mode),
        (
            "/opt/bin/tool",
            "https://example.invalid/tool",
            Some("sha256-abc"),
            0o755
        )
    );
    assert!(report.written.is_empty());
    assert!(!dir.path().join("opt").exists());
    let e = format!(
        "{:#}",
        materialise(&cfg, dir.path(), &Options { fetch_remote: true }).unwrap_err()
    );
    assert!(
        e.contains("storage.files[0]") && e.contains("not implemented"),
        "{e}"
    );
}

/// The rule the materialiser copies: the real files stage fails on an existing file (the seeded
/// `/etc/group`) when `overwrite` is absent, and replaces it when it is true.
#[test]
fn the_real_files_stage_refuses_existing_files_too() {
    let without = config(
        r#""files":[{"path":"/etc/group","contents":{"source":"data:,new"}}]"#,
        "",
    );
    let failed = std::panic::catch_unwind(|| kit::ignition_files_stage(&without));
    let message = failed.expect_err("Ignition must refuse");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("A file exists there already and overwrite is false"),
        "{message}"
    );
    let with = config(
        r#""files":[{"path":"/etc/group","overwrite":true,"contents":{"source":"data:,new"}}]"#,
        "",
    );
    assert_eq!(kit::ignition_files_stage(&with).read("etc/group"), b"new");
}
