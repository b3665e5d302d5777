//! Writing small file trees into temporary directories.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Joins a caller-supplied relative path onto `dir`, refusing absolute paths
/// and `..` so that nothing is written outside the temporary directory.
pub(crate) fn join_relative(dir: &Path, rel: &str) -> PathBuf {
    let rel_path = Path::new(rel);
    let ok = !rel.is_empty()
        && rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    assert!(
        ok,
        "nassella-testkit: {rel:?} must be a relative path without `..` (it is written inside a temp dir)"
    );
    dir.join(rel_path)
}

/// Writes `contents` at `dir/rel`, creating parent directories.
pub(crate) fn write_file(dir: &Path, rel: &str, contents: &[u8]) -> PathBuf {
    let path = join_relative(dir, rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("nassella-testkit: creating {}: {e}", parent.display()));
    }
    fs::write(&path, contents)
        .unwrap_or_else(|e| panic!("nassella-testkit: writing {}: {e}", path.display()));
    path
}

/// Writes each `(relative path, contents)` pair under `dir`.
pub(crate) fn write_tree(dir: &Path, files: &[(&str, &[u8])]) {
    for (rel, contents) in files {
        write_file(dir, rel, contents);
    }
}

/// Creates a temporary directory whose name starts with `prefix`.
pub(crate) fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("nassella-testkit: creating a temp dir: {e}"))
}
