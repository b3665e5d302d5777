//! `caddy validate` on a Caddyfile.

use std::process::Command;

use crate::fsutil::{temp_dir, write_file, write_tree};
use crate::process::{default_timeout, run};
use crate::tools::require_tool;

/// Validates `caddyfile` with the real Caddy (`caddy validate --adapter
/// caddyfile --config Caddyfile`), run inside a temp dir that also holds
/// `extra_files` at their relative paths (for `import` and file references).
///
/// `HOME`, `XDG_DATA_HOME` and `XDG_CONFIG_HOME` point into the temp dir, so
/// TLS storage provisioning writes nothing outside it. Returns Caddy's log
/// (stderr), e.g. to check for a "not formatted" warning.
///
/// # Panics
///
/// If Caddy rejects the config (with Caddy's whole output and the Caddyfile),
/// or `caddy` is not installed.
pub fn caddy_validate(caddyfile: &str, extra_files: &[(&str, &[u8])]) -> String {
    let caddy = require_tool("caddy");
    let tmp = temp_dir("nassella-caddy");
    let work = tmp.path().join("work");
    write_tree(&work, extra_files);
    let config = write_file(&work, "Caddyfile", caddyfile.as_bytes());
    let state = tmp.path().join("state");
    for sub in ["home", "data", "config"] {
        std::fs::create_dir_all(state.join(sub)).expect("nassella-testkit: creating caddy dirs");
    }
    let out = run(
        Command::new(caddy)
            .args(["validate", "--adapter", "caddyfile", "--config"])
            .arg(&config)
            .current_dir(&work)
            .env("HOME", state.join("home"))
            .env("XDG_DATA_HOME", state.join("data"))
            .env("XDG_CONFIG_HOME", state.join("config")),
        default_timeout(),
    );
    if !out.status.success() {
        panic!(
            "nassella-testkit: caddy validate rejected the Caddyfile\n{}\n--- Caddyfile ---\n{}",
            out.both(),
            numbered(caddyfile)
        );
    }
    out.stderr
}

fn numbered(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{:>4} | {l}\n", i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_valid_caddyfile_with_an_import() {
        let log = caddy_validate(
            "{\n\temail admin@example.com\n}\n\nexample.com {\n\timport snippets/*.caddy\n\treverse_proxy app:8080\n}\n",
            &[("snippets/headers.caddy", b"header X-Served-By nassella\n")],
        );
        assert!(log.contains("adapted config to JSON"), "{log}");
    }

    #[test]
    #[should_panic(expected = "unrecognized directive: bogus_directive")]
    fn rejects_an_unknown_directive() {
        caddy_validate("example.com {\n\tbogus_directive\n}\n", &[]);
    }

    #[test]
    #[should_panic(expected = "caddy validate rejected")]
    fn rejects_a_missing_import() {
        caddy_validate("example.com {\n\timport missing.caddy\n}\n", &[]);
    }
}
