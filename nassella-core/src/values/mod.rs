//! Typed values: one type per grammar a value lands in.
//!
//! **The rule:** every value that reaches a generated file is one of these types by the time it
//! is rendered, and each type's constructor refuses any string that does not fit the grammar of
//! the file it goes into. A value that cannot be built is a [`crate::Problem`] at the key path of
//! the setting (the composer turns an [`InvalidValue`] into one); a value that was built cannot
//! add a line, key, directive or option to any artifact. The renderers escape on top of this as a
//! last line of defence (see `render::units`, `render::caddyfile`, [`EnvFile`]).
//!
//! Apps from other crates get the same protection: the composer checks every image, environment
//! name and value, command and schedule an app contributes with these types. App authors may also
//! use them to check their own settings early (`check()`), e.g. [`Hostname::parse`].
//!
//! | Type | Lands in | Refuses |
//! |------|----------|---------|
//! | [`Hostname`] | Caddyfile site address, DNS records | anything but lowercase LDH labels |
//! | [`EmailAddress`] | Caddyfile `email` | not an addr-spec; `\`, quotes, `{`, `}`, controls |
//! | [`CalendarSpec`] | a timer's `OnCalendar=` | characters outside systemd.time's, `\`, controls |
//! | [`ImageRef`] | compose `image:`, `docker run` in scripts | not a reference; unpinned; leading `-` |
//! | [`EnvName`] | env files, compose `environment:` | anything but `[A-Za-z_][A-Za-z0-9_]*` |
//! | [`EnvValue`] | compose `environment:` | NUL and control characters except tab and newline |
//! | [`EnvFileValue`] | a `KEY=value` line of an env file | line breaks, NUL, controls, `'` |
//! | [`RebootWindowStart`], [`RebootWindowLength`] | `/etc/flatcar/update.conf` | anything but `[Day ]HH:MM` and a Go duration |
//! | [`HttpUrl`] | `backup.sh` (notify URL) | not `http(s)://…`; spaces, quotes, controls |
//! | [`ResticRepository`] | `restic.env`, scripts | empty, spaces, quotes, controls, leading `-` |
//! | [`Line`] | any single-line setting | control characters (C0, DEL, C1) |

mod calendar;
mod email;
mod env;
mod hostname;
mod image;
mod line;
mod repository;
mod url;
mod window;

pub use calendar::CalendarSpec;
pub use email::EmailAddress;
pub use env::{EnvFile, EnvFileValue, EnvName, EnvValue, MAX_ENV_VALUE};
pub use hostname::Hostname;
pub use image::ImageRef;
pub use line::{escape_controls, is_control, Line, MAX_LINE};
pub use repository::ResticRepository;
pub use url::HttpUrl;
pub use window::{RebootWindowLength, RebootWindowStart};

/// Why a string is not a valid value of some type. Its message names what is allowed; it quotes
/// the rejected value only with its control characters escaped, and never for secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub(crate) String);

impl InvalidValue {
    /// The reason, for a message.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.0
    }
}

/// `` `value` `` with control characters escaped and a long value cut, for an error message.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 80;
    let mut s: String = value.chars().take(MAX).collect();
    if value.chars().count() > MAX {
        s.push('…');
    }
    format!("`{}`", escape_controls(&s))
}

/// Implements `Display`, `AsRef<str>` and `as_str` for a string newtype.
macro_rules! string_value {
    ($t:ident) => {
        impl $t {
            /// The value as written into the artifact.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $t {
            type Err = crate::values::InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use string_value;

/// One key of a problem path: as written when it is a bare word (`cloud`, `smtp`), in double
/// quotes with `"`, `\` and control characters escaped otherwise (`images."caddy:2.11.4-alpine"`),
/// so a key can never be mistaken for two path segments.
#[must_use]
pub fn path_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        key.to_owned()
    } else {
        format!(
            "\"{}\"",
            escape_controls(&key.replace('\\', "\\\\").replace('"', "\\\""))
        )
    }
}
