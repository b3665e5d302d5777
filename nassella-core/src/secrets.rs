//! Secrets derived from one master key.
//!
//! Every secret an app needs is `HKDF-SHA256(master key, info = "nassella/v1/<app>/<name>")`,
//! spelled as the app needs it. The same key gives the same secrets on every render, so a
//! redeploy keeps passwords; losing the key means losing access to the data's secrets (the
//! restic password is derived the same way). Nothing here is random.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::model::SecretFormat;

/// The stack's master key: 32 bytes from which every secret is derived.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A key from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from 64 hex digits (surrounding white space ignored).
    ///
    /// # Errors
    /// When the text is not exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, InvalidMasterKey> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidMasterKey);
        }
        let mut out = [0u8; 32];
        for (i, chunk) in t.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(chunk).map_err(|_| InvalidMasterKey)?;
            out[i] = u8::from_str_radix(s, 16).map_err(|_| InvalidMasterKey)?;
        }
        Ok(Self(out))
    }

    /// The key as 64 lowercase hex digits (to store it).
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fixed, public key for tests and snapshots. Never deploy with it.
    #[must_use]
    pub fn insecure_test_key() -> Self {
        Self([7u8; 32])
    }

    /// Derive the secret `name` of `scope` (an app id, or `backup`) in `format`.
    #[must_use]
    pub fn derive(&self, scope: &str, name: &str, format: SecretFormat) -> String {
        let hk = Hkdf::<Sha256>::new(Some(b"nassella"), &self.0);
        let info = format!("nassella/v1/{scope}/{name}");
        match format {
            SecretFormat::Hex(n) => {
                let bytes = expand(&hk, &info, n);
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
            SecretFormat::Base64(n) => {
                base64::engine::general_purpose::STANDARD.encode(expand(&hk, &info, n))
            }
            SecretFormat::Base64Url(n) => {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(expand(&hk, &info, n))
            }
            SecretFormat::Alphanumeric(n) => {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                // Rejection sampling keeps every character equally likely: bytes >= 248 are skipped.
                let mut out = String::with_capacity(n);
                let mut round = 0u32;
                while out.len() < n {
                    let bytes = expand(&hk, &format!("{info}/{round}"), n * 2);
                    for b in bytes {
                        if b < 248 && out.len() < n {
                            out.push(ALPHABET[usize::from(b) % 62] as char);
                        }
                    }
                    round += 1;
                }
                out
            }
        }
    }
}

/// HKDF-SHA256 yields at most 255 blocks of 32 bytes per `info`.
const HKDF_MAX: usize = 255 * 32;

/// `n` bytes of key material for `info`. Up to HKDF's limit this is one expansion (what every
/// secret Nassella derives uses); beyond it further blocks come from `info#1`, `info#2`…, so
/// no length asked by an app can make derivation fail.
fn expand(hk: &Hkdf<Sha256>, info: &str, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    for (i, chunk) in out.chunks_mut(HKDF_MAX).enumerate() {
        let info = if i == 0 {
            info.to_owned()
        } else {
            format!("{info}#{i}")
        };
        // Cannot fail: a chunk is never longer than HKDF_MAX.
        if hk.expand(info.as_bytes(), chunk).is_err() {
            chunk.fill(0);
        }
    }
    out
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// The master key is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the master key must be exactly 64 hex digits (32 bytes)")]
pub struct InvalidMasterKey;

/// Secret inputs to rendering: the master key and the backup storage credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub(crate) master: MasterKey,
    pub(crate) backup_env: BTreeMap<String, String>,
    pub(crate) provided: BTreeMap<String, String>,
}

impl Keys {
    /// Keys with `master` and no backup credentials yet.
    #[must_use]
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            backup_env: BTreeMap::new(),
            provided: BTreeMap::new(),
        }
    }

    /// Add an environment variable restic needs on the server (e.g. `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` for Backblaze B2's S3 API). Written only to a mode-0600 file.
    #[must_use]
    pub fn backup_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.backup_env.insert(key.into(), value.into());
        self
    }

    /// Supply the value of a secret an app takes from the environment variable `var`
    /// ([`crate::Secret::from_env`]); the CLI passes what its own environment holds.
    #[must_use]
    pub fn provide(mut self, var: impl Into<String>, value: impl Into<String>) -> Self {
        self.provided.insert(var.into(), value.into());
        self
    }

    /// The supplied value of `var`, if any.
    #[must_use]
    pub fn provided(&self, var: &str) -> Option<&str> {
        self.provided.get(var).map(String::as_str)
    }

    /// The master key.
    #[must_use]
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The restic repository password (derived; show it to the user for disaster recovery).
    #[must_use]
    pub fn restic_password(&self) -> String {
        self.master
            .derive("backup", "restic-password", SecretFormat::Alphanumeric(48))
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("master", &self.master)
            .field("backup_env", &self.backup_env.keys().collect::<Vec<_>>())
            .field("provided", &self.provided.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_stable_distinct_and_well_formed() {
        let k = MasterKey::insecure_test_key();
        let a = k.derive("cloud", "db-password", SecretFormat::Alphanumeric(32));
        assert_eq!(
            a,
            k.derive("cloud", "db-password", SecretFormat::Alphanumeric(32))
        );
        assert_ne!(
            a,
            k.derive("cloud2", "db-password", SecretFormat::Alphanumeric(32))
        );
        assert_ne!(
            a,
            k.derive("cloud", "admin-password", SecretFormat::Alphanumeric(32))
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        let h = k.derive("x", "y", SecretFormat::Hex(16));
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        let b = k.derive("x", "y", SecretFormat::Base64(64));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&b)
                .unwrap()
                .len(),
            64
        );
        let u = k.derive("x", "y", SecretFormat::Base64Url(64));
        assert_eq!(u.len(), 86, "⌈64·4/3⌉ characters, no padding");
        assert!(u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&u)
                .unwrap()
                .len(),
            64
        );
        assert_ne!(
            u,
            k.derive("x", "y", SecretFormat::Base64(64)),
            "another spelling of the same bytes"
        );
        let other = MasterKey::from_bytes([8u8; 32]);
        assert_ne!(
            a,
            other.derive("cloud", "db-password", SecretFormat::Alphanumeric(32))
        );
    }

    #[test]
    fn master_key_hex_round_trip_and_rejects_bad_text() {
        let k = MasterKey::from_bytes([0xab; 32]);
        assert_eq!(
            MasterKey::from_hex(&format!(" {}\n", k.to_hex())).unwrap(),
            k
        );
        assert_eq!(MasterKey::from_hex("abc"), Err(InvalidMasterKey));
        assert_eq!(MasterKey::from_hex(&"g".repeat(64)), Err(InvalidMasterKey));
        assert_eq!(format!("{k:?}"), "MasterKey(<redacted>)");
    }

    #[test]
    fn any_length_derives_without_panicking() {
        let k = MasterKey::insecure_test_key();
        // Past HKDF-SHA256's 8160 bytes per expansion.
        let h = k.derive("x", "y", SecretFormat::Hex(10_000));
        assert_eq!(h.len(), 20_000);
        let a = k.derive("x", "y", SecretFormat::Alphanumeric(5_000));
        assert_eq!(a.len(), 5_000);
        // Up to the limit, the output is the single expansion it always was.
        assert_eq!(&h[..64], &k.derive("x", "y", SecretFormat::Hex(32))[..64]);
    }
}
