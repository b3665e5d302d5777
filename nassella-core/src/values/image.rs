//! [`ImageRef`]: a pinned container image reference.

use super::{shown, string_value, InvalidValue};

/// A container image reference in the grammar of Docker's `distribution/reference`
/// (`[registry[:port]/]path[:tag][@sha256:<64 hex>]`), pinned: a tag other than `latest`, or a
/// digest. It never starts with `-`, holds no spaces, quotes or control characters, so it is one
/// word in a script and cannot be read as an option of `docker run`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef(String);

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__' or a run of '-'.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// A registry host: DNS labels (or `localhost`) with an optional port.
fn domain(d: &str) -> bool {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    !host.is_empty() && host.split('.').all(label_ok) && port_ok
}

/// `[\w][\w.-]{0,127}`
fn tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    !t.is_empty()
        && t.len() <= 128
        && word(t.as_bytes()[0])
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

impl ImageRef {
    /// `s` as a pinned image reference.
    ///
    /// # Errors
    /// When `s` is not a reference, or is not pinned to a version.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| {
            InvalidValue(format!(
                "{} is not a usable image reference: {why}",
                shown(s)
            ))
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.starts_with('-') {
            return Err(bad("it starts with '-' (it would be read as an option)"));
        }
        if s.len() > 512 {
            return Err(bad("it is longer than 512 characters"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            let hex = d.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(bad(
                    "a digest must be `sha256:` and 64 lowercase hex digits",
                ));
            }
        }
        // The tag follows the last ':' after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag_part) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag_part {
            if !tag(t) {
                return Err(bad("a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"));
            }
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let first = parts[0];
        if parts.len() > 1
            && (first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()))
        {
            if !domain(first) {
                return Err(bad(
                    "the registry must be a host name with an optional port",
                ));
            }
            parts.remove(0);
        }
        if name.len() > 255 {
            return Err(bad("the name is longer than 255 characters"));
        }
        if !parts.iter().all(|c| path_component(c)) {
            return Err(bad("each part of the name is lowercase letters and digits, separated by '.', '_', '__' or '-'"));
        }
        match (tag_part, digest) {
            (_, Some(_)) => {}
            (Some(t), None) if t != "latest" => {}
            _ => {
                return Err(bad(
                    "it is not pinned: give a version tag other than `latest` (e.g. `nextcloud:31.0.8-apache`) or a digest (`@sha256:…`)",
                ))
            }
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(ImageRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_references_only() {
        let digest = format!("x/y@sha256:{}", "a".repeat(64));
        for ok in [
            "nextcloud:31.0.8-apache",
            "registry:5000/x/y:1.2",
            "registry.example.com/caddy:2.11.4-alpine",
            "localhost/nassella-test/hello:1",
            "ghcr.io/immich-app/immich-server:v1.2.3",
            "a__b/c--d:1",
            &digest,
        ] {
            assert!(ImageRef::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "nextcloud",
            "nextcloud:latest",
            "registry:5000/x/y",
            "x:",
            "--privileged",
            "-v/:/host:1",
            "Nextcloud:1",
            "x:1 --privileged",
            "x:1\n",
            "x:1\0",
            "x/:1",
            "x:.1",
            "x@sha256:abc",
            "'x:1'",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }
}
