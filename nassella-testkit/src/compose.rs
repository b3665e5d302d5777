//! `docker-compose config --quiet` (Compose v2) on a set of compose files.

use std::process::Command;

use crate::fsutil::{join_relative, temp_dir, write_tree};
use crate::process::{default_timeout, run};
use crate::tools::compose_binary_path;

/// Checks compose files with the real Docker Compose v2
/// (`docker-compose -f MAIN config --quiet`), after writing `files` (relative path, bytes) into a
/// fresh temp dir that is the project directory. `main` is the relative path of
/// the compose file to check; env files, `.env`, configs etc. go in `files`.
///
/// Runs with a cleared environment (only `PATH` and a temp `HOME`), so host
/// variables cannot leak into interpolation. Needs no registry and no daemon
/// access. Returns Compose's stderr (warnings such as unset variables).
///
/// # Panics
///
/// If Compose rejects the project (with its whole output), or no Compose v2
/// binary is installed (Debian's docker-compose 1.x is refused).
pub fn compose_config(files: &[(&str, &[u8])], main: &str) -> String {
    let compose = compose_binary_path();
    let tmp = temp_dir("nassella-compose");
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).expect("nassella-testkit: creating project dir");
    write_tree(&project, files);
    let main_path = join_relative(&project, main);
    assert!(
        main_path.is_file(),
        "nassella-testkit: compose_config: main file {main:?} is not among the files given"
    );
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).expect("nassella-testkit: creating home dir");
    let out = run(
        Command::new(&compose)
            .arg("-f")
            .arg(&main_path)
            .args(["config", "--quiet"])
            .current_dir(&project)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home),
        default_timeout(),
    );
    if !out.status.success() {
        let listing: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
        panic!(
            "nassella-testkit: `docker-compose config` ({}) rejected {main:?} (files: {listing:?})\n{}\n--- {main} ---\n{}",
            compose.display(),
            out.both(),
            String::from_utf8_lossy(&std::fs::read(&main_path).unwrap_or_default())
        );
    }
    out.stderr
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "\
services:
  app:
    image: greeter:local
    env_file: app.env
    volumes: [\"./data:/data\"]
    networks: [web]
networks:
  web: {}
";

    #[test]
    fn accepts_a_valid_project() {
        let warnings = compose_config(
            &[
                ("compose.yaml", VALID.as_bytes()),
                ("app.env", b"GREETING=hi\n"),
            ],
            "compose.yaml",
        );
        assert_eq!(warnings.trim(), "");
    }

    #[test]
    fn reports_warnings_for_unset_variables() {
        let warnings = compose_config(
            &[(
                "apps/c.yaml",
                b"services:\n  app:\n    image: \"x:${TAG}\"\n",
            )],
            "apps/c.yaml",
        );
        assert!(
            warnings.contains("TAG") && warnings.contains("variable is not set"),
            "{warnings}"
        );
    }

    #[test]
    #[should_panic(expected = "additional properties 'imagee' not allowed")]
    fn rejects_an_unknown_key() {
        compose_config(
            &[("compose.yaml", b"services:\n  app:\n    imagee: x\n")],
            "compose.yaml",
        );
    }

    #[test]
    #[should_panic(expected = "missing.env not found")]
    fn rejects_a_missing_env_file() {
        compose_config(
            &[(
                "compose.yaml",
                b"services:\n  app:\n    image: x\n    env_file: missing.env\n",
            )],
            "compose.yaml",
        );
    }
}
