//! Secrets at rest: every value is sealed with XChaCha20-Poly1305 under the operator's key
//! (`NASSELLA_WEB_KEY` or a key file), with a fresh random 24-byte nonce per value and the row's
//! id as associated data, so a sealed value moved to another row does not open.
//!
//! Why XChaCha20: its 192-bit nonce can be drawn at random for every value without a counter
//! shared between replicas.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

/// The operator's key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

/// A sealed value as stored: nonce and ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The random nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte tag.
    pub sealed: Vec<u8>,
}

impl SealingKey {
    /// A key from 64 hex digits (whitespace around them is ignored).
    ///
    /// # Errors
    /// When the text is not exactly 32 bytes of hex.
    pub fn from_hex(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("the key must be 64 hex digits (32 bytes); make one with `openssl rand -hex 32`");
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("checked hex");
        }
        Ok(Self(XChaCha20Poly1305::new(&bytes.into())))
    }

    /// Read a key file, refusing one that others can read.
    ///
    /// # Errors
    /// When the file is missing, readable by group or others, or not a key.
    pub fn from_file(path: &Path) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the key file {}", path.display()))?;
        Self::from_hex(&text).with_context(|| path.display().to_string())
    }

    /// Create a new random key file (mode 0600) and return its key. Fails if the file exists.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn create_file(path: &Path) -> Result<Self> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(f, "{hex}")?;
        Self::from_hex(&hex)
    }

    /// Seal `plain` for the row `row_id`.
    ///
    /// # Panics
    /// Never in practice: encryption fails only for absurd lengths.
    #[must_use]
    pub fn seal(&self, row_id: i64, plain: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(row_id);
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail");
        Sealed {
            nonce: nonce.to_vec(),
            sealed,
        }
    }

    /// Open a value sealed for `row_id`.
    ///
    /// # Errors
    /// When the key is not the one that sealed it, the row id differs, or the bytes were changed.
    pub fn open(&self, row_id: i64, sealed: &Sealed) -> Result<Vec<u8>> {
        if sealed.nonce.len() != 24 {
            bail!("secret {row_id}: the stored nonce is damaged");
        }
        self.0
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.sealed,
                    aad: &aad(row_id),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "secret {row_id} does not open: it was sealed with another key (NASSELLA_WEB_KEY / --key-file) or changed"
                )
            })
    }
}

fn aad(row_id: i64) -> Vec<u8> {
    format!("nassella-web secret {row_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> SealingKey {
        SealingKey::from_hex(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn a_value_opens_with_its_key_and_row_only() {
        let k = key('a');
        let s = k.seal(7, b"hunter2");
        assert_ne!(s.sealed, b"hunter2");
        assert_eq!(k.open(7, &s).unwrap(), b"hunter2");
        assert!(k.open(8, &s).is_err(), "another row's id must not open it");
        assert!(
            key('b').open(7, &s).is_err(),
            "another key must not open it"
        );
        let mut changed = s.clone();
        changed.sealed[0] ^= 1;
        assert!(k.open(7, &changed).is_err(), "a changed byte must not open");
    }

    #[test]
    fn nonces_differ_between_two_seals_of_one_value() {
        let k = key('c');
        assert_ne!(k.seal(1, b"x").nonce, k.seal(1, b"x").nonce);
    }

    #[test]
    fn bad_keys_are_refused_with_what_to_do() {
        let e = SealingKey::from_hex("abc").unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        assert!(format!("{:?}", key('d')).contains('…'));
    }
}
