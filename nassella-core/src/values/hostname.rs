//! [`Hostname`]: a public DNS name.

use super::{shown, string_value, InvalidValue};

/// A fully qualified DNS name of lowercase letters, digits and '-' labels (`cloud.example.com`):
/// what a Caddyfile site address and a DNS record take without quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hostname(String);

impl Hostname {
    /// `s` as a hostname.
    ///
    /// # Errors
    /// Why `s` is not one (uppercase, a scheme or path, one label, a bad label…).
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        crate::composer::valid_host(s)
            .map_err(|why| InvalidValue(format!("{} is not a valid hostname: {why}", shown(s))))?;
        Ok(Self(s.to_owned()))
    }
}
string_value!(Hostname);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldh_labels_only() {
        assert!(Hostname::parse("cloud.example.com").is_ok());
        for bad in [
            "",
            "x",
            "a.b\n",
            "a.b\0",
            "{$HOME}.com",
            "a .b",
            "-a.b",
            "a.b/",
        ] {
            assert!(Hostname::parse(bad).is_err(), "{bad:?}");
        }
    }
}
