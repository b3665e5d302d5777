//! [`HttpUrl`]: an `http(s)://` URL.

use super::{shown, string_value, InvalidValue};

/// An absolute `http://` or `https://` URL with a host, as one shell word: no spaces, quotes,
/// backslashes or control characters, at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// `s` as a URL.
    ///
    /// # Errors
    /// When `s` is not such a URL.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = || {
            InvalidValue(format!(
                "{} must be an http(s) URL without spaces, quotes or `\\` (e.g. `https://hc-ping.com/<uuid>`)",
                shown(s)
            ))
        };
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let ok = !host.is_empty()
            && s.len() <= 2048
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"'\"`\\".contains(&b));
        if !ok {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(HttpUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        assert!(HttpUrl::parse("https://hc-ping.com/abc?x=1").is_ok());
        for bad in [
            "",
            "ftp://x",
            "https://",
            "https://x y",
            "https://x\n",
            "https://x\0",
            "https://x'",
            "https://ü.de",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
