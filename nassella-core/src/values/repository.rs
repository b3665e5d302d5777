//! [`ResticRepository`]: where restic keeps the backups.

use super::{shown, string_value, InvalidValue};

/// A restic repository location (`s3:host/bucket/path`, `b2:bucket:path`, `rest:https://…`,
/// `sftp:…`, `/srv/backup`): non-empty printable ASCII without spaces, quotes, `\` or a leading
/// `-`, so it is one `KEY=value` line of `restic.env` and one word in a script.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResticRepository(String);

impl ResticRepository {
    /// `s` as a repository.
    ///
    /// # Errors
    /// When `s` does not fit.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let ok = !s.is_empty()
            && !s.starts_with('-')
            && s.len() <= 2048
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"'\"`\\".contains(&b));
        if !ok {
            return Err(InvalidValue(format!(
                "repository {} must be a restic repository URL of printable characters without spaces, quotes, `\\` or a leading '-', e.g. `s3:s3.eu-central-003.backblazeb2.com/bucket/path`",
                shown(s)
            )));
        }
        Ok(Self(s.to_owned()))
    }
}
string_value!(ResticRepository);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        assert!(ResticRepository::parse("s3:s3.eu-central-003.backblazeb2.com/b/p").is_ok());
        assert!(ResticRepository::parse("/srv/backup").is_ok());
        for bad in ["", " ", "-o x", "a b", "a\nb", "a\0", "it's"] {
            assert!(ResticRepository::parse(bad).is_err(), "{bad:?}");
        }
    }
}
