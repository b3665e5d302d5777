//! [`EmailAddress`]: an e-mail address written into the Caddyfile.

use super::{shown, string_value, InvalidValue};

/// An RFC 5322 addr-spec in its common dot-atom form (`admin@example.com`), restricted so it is
/// one plain Caddyfile token that Caddy neither joins, unquotes nor expands: no `\`, quotes,
/// backtick, `{` or `}` (Caddy's placeholders and `{$ENV}`), no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

/// Characters allowed in the local part (RFC 5322 `atext` without `'`, `` ` ``, `{`, `}`, `$`).
fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#%&*+/=?^_|~-".contains(c)
}

impl EmailAddress {
    /// `s` as an e-mail address.
    ///
    /// # Errors
    /// When `s` is not `local@domain` as described above.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| InvalidValue(format!("{} is not an e-mail address: {why}", shown(s)));
        super::line::check_line(s).map_err(|_| bad("it holds a control character"))?;
        if s.len() > 254 {
            return Err(bad("it is longer than 254 characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(bad("it needs one `@` (e.g. `admin@example.com`)"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before `@` must be 1 to 64 characters"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad(
                "the part before `@` cannot start or end with '.' or hold `..`",
            ));
        }
        if !local.chars().all(|c| c == '.' || local_char(c)) {
            return Err(bad(
                "use letters, digits and `.!#%&*+/=?^_|~-` before the `@` (no spaces, quotes, `\\`, `{`, `}` or `$`)",
            ));
        }
        let lower = domain.to_ascii_lowercase();
        crate::composer::valid_host(&lower).map_err(|why| bad(&format!("the domain {why}")))?;
        Ok(Self(s.to_owned()))
    }
}
string_value!(EmailAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_spec_that_caddy_takes_literally() {
        for ok in [
            "admin@example.com",
            "first.last+tag@Mail.Example.org",
            "a_b-c@x.io",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "admin@",
            "@example.com",
            "admin@example.com\\",
            "{$HOME}@example.com",
            "a{b}@example.com",
            "admin@example.com\n",
            "admin@exa\0mple.com",
            "a b@example.com",
            "\"a\"@example.com",
            "a..b@example.com",
            "admin@localhost",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
