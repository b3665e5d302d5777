//! Environment variables: [`EnvName`], [`EnvValue`], [`EnvFileValue`] and the [`EnvFile`] writer.

use super::{escape_controls, is_control, shown, string_value, InvalidValue};

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 256 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    /// `s` as a variable name.
    ///
    /// # Errors
    /// When `s` is not a portable variable name.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty()
            && s.len() <= 256
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(InvalidValue(format!(
                "{} is not an environment variable name: use letters, digits and '_', not starting with a digit",
                shown(s)
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(EnvName);

/// Longest environment value accepted, in bytes.
pub const MAX_ENV_VALUE: usize = 64 * 1024;

/// A value for compose's `environment:` map (YAML escapes it): any text without NUL or control
/// characters other than tab and newline (a process environment cannot hold NUL at all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvValue(String);

impl EnvValue {
    /// `s` as an environment value.
    ///
    /// # Errors
    /// When `s` holds NUL or another control character than tab and newline, or is too long.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if let Some(c) = s.chars().find(|&c| is_control(c) && c != '\t' && c != '\n') {
            return Err(InvalidValue(format!(
                "the value holds the control character {}; environment values may hold tabs and newlines only",
                escape_controls(&c.to_string())
            )));
        }
        if s.len() > MAX_ENV_VALUE {
            return Err(InvalidValue(format!(
                "the value is {} bytes long; at most {MAX_ENV_VALUE} are allowed",
                s.len()
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(EnvValue);

/// A value that fits one `KEY=value` line of an env file, read by `docker run --env-file` (which
/// takes the rest of the line literally) and by compose's `env_file` inside single quotes: no
/// line break, NUL or other control character, no `'`, at most [`MAX_ENV_VALUE`] bytes. Its
/// error never quotes the value (it may be a secret).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EnvFileValue(String);

impl EnvFileValue {
    /// `s` as an env-file value.
    ///
    /// # Errors
    /// What is wrong, without the value itself.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.chars().any(is_control) {
            return Err(InvalidValue(
                "the value holds a line break, NUL or another control character, which an env file cannot carry".into(),
            ));
        }
        if s.contains('\'') {
            return Err(InvalidValue(
                "the value holds a `'`, which an env file cannot carry".into(),
            ));
        }
        if s.len() > MAX_ENV_VALUE {
            return Err(InvalidValue(format!(
                "the value is {} bytes long; at most {MAX_ENV_VALUE} are allowed",
                s.len()
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(EnvFileValue);

impl std::fmt::Debug for EnvFileValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvFileValue(<redacted>)")
    }
}

/// How an [`EnvFile`] spells a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// `KEY=value`: `docker run --env-file` takes the rest of the line literally.
    Docker,
    /// `KEY='value'`: compose's `env_file` parser takes single-quoted text literally.
    Compose,
}

/// An env file built only from [`EnvName`]s and [`EnvFileValue`]s, so every entry is exactly one
/// line and no value can add a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    quoting: Quoting,
    text: String,
}

impl EnvFile {
    /// A file for `docker run --env-file` (values unquoted).
    #[must_use]
    pub fn for_docker() -> Self {
        Self {
            quoting: Quoting::Docker,
            text: String::new(),
        }
    }

    /// A file for compose's `env_file` (values in single quotes).
    #[must_use]
    pub fn for_compose() -> Self {
        Self {
            quoting: Quoting::Compose,
            text: String::new(),
        }
    }

    /// Add `name=value`.
    pub fn set(&mut self, name: &EnvName, value: &EnvFileValue) {
        self.line(name, &value.0);
    }

    /// Add `name=` followed by text of our own (a `<secret:…>` marker of a view).
    pub(crate) fn line(&mut self, name: &EnvName, value: &str) {
        match self.quoting {
            Quoting::Docker => self.text.push_str(&format!("{name}={value}\n")),
            Quoting::Compose => self.text.push_str(&format!("{name}='{value}'\n")),
        }
    }

    /// True when nothing was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The file's text.
    #[must_use]
    pub fn into_string(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_grammar() {
        assert!(EnvName::parse("AWS_SECRET_ACCESS_KEY").is_ok());
        for bad in ["", "1A", "A-B", "A B", "A\n", "A=B"] {
            assert!(EnvName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EnvValue::parse("multi\nline\tok $x 'q'").is_ok());
        for bad in ["a\0b", "a\rb", "\u{1b}[2J"] {
            assert!(EnvValue::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EnvFileValue::parse("s3cr3t/+=").is_ok());
        for bad in ["a\nRESTIC_PASSWORD=x", "a\rb", "a\0", "it's"] {
            let e = EnvFileValue::parse(bad).unwrap_err();
            assert!(
                !e.reason().contains(bad),
                "the error must not quote the value"
            );
        }
        let mut f = EnvFile::for_docker();
        f.set(
            &EnvName::parse("K").unwrap(),
            &EnvFileValue::parse("v w").unwrap(),
        );
        assert_eq!(f.into_string(), "K=v w\n");
        let mut f = EnvFile::for_compose();
        f.set(
            &EnvName::parse("K").unwrap(),
            &EnvFileValue::parse("v$w").unwrap(),
        );
        assert_eq!(f.into_string(), "K='v$w'\n");
    }
}
