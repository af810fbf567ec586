//! Camera and platform credentials: encrypted at rest, redacted everywhere else.
//!
//! Passwords are sealed with XChaCha20-Poly1305 under a 256-bit key taken from
//! `CAMWATCH_SECRET_KEY` (64 hex digits) or from a key file created with mode 0600 on first run.
//! The sealed form is `v1:` + base64(nonce ‖ ciphertext ‖ tag); the device code is bound in as
//! associated data so a sealed password cannot be moved to another camera's row.
//!
//! `Password` never prints its contents: `Debug` and `Display` show `***`. Reading the clear text
//! needs an explicit `expose()` call, which is easy to audit with grep.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// A clear-text credential held in memory. Redacted in `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The clear text. Call sites are the places a password leaves camwatch (a probe's login,
    /// an admin's explicit export) and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("CAMWATCH_SECRET_KEY must be 64 hex digits (a 256-bit key)")]
    BadEnvKey,
    #[error("key file {path} is not a 32-byte key (found {len} bytes)")]
    BadKeyFile { path: String, len: usize },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("sealed password has an unknown format (expected the `v1:` prefix)")]
    Format,
    #[error("sealed password could not be opened: wrong key, or it belongs to another device")]
    Open,
}

/// The key that seals credentials at rest.
#[derive(Clone)]
pub struct SecretKey(chacha20poly1305::Key);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes.into())
    }

    /// Random key, for tests and for a key file's first creation.
    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    /// `CAMWATCH_SECRET_KEY` if set, else the key file at `path`, created (0600) if missing.
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        if let Ok(hexkey) = std::env::var("CAMWATCH_SECRET_KEY") {
            let bytes = hex::decode(hexkey.trim()).map_err(|_| SecretError::BadEnvKey)?;
            let arr: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadEnvKey)?;
            return Ok(Self::from_bytes(arr));
        }
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let len = bytes.len();
                let arr: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKeyFile {
                    path: path.display().to_string(),
                    len,
                })?;
                Ok(Self::from_bytes(arr))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, key.0.as_slice()).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Seal `password` for the row of device `context` (the device code).
    pub fn seal(&self, context: &str, password: &Password) -> String {
        let cipher = XChaCha20Poly1305::new(&self.0);
        let nonce_bytes: [u8; 24] = random_bytes();
        let nonce = XNonce::from(nonce_bytes);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: password.0.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", B64.encode(out))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Password, SecretError> {
        let b64 = sealed.strip_prefix("v1:").ok_or(SecretError::Format)?;
        let raw = B64.decode(b64).map_err(|_| SecretError::Format)?;
        if raw.len() < 24 + 16 {
            return Err(SecretError::Format);
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.0);
        let pt = cipher
            .decrypt(
                &XNonce::try_from(nonce).map_err(|_| SecretError::Format)?,
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(pt)
            .map(Password)
            .map_err(|_| SecretError::Open)
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("OS random source");
    b
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let k = SecretKey::generate();
        let p = Password::new("hunter2");
        let sealed = k.seal("34020000001320000001", &p);
        assert!(!sealed.contains("hunter2"));
        assert_eq!(k.open("34020000001320000001", &sealed).unwrap(), p);
        assert!(k.open("34020000001320000002", &sealed).is_err());
        assert!(
            SecretKey::generate()
                .open("34020000001320000001", &sealed)
                .is_err()
        );
    }

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?} {p}"), "*** ***");
    }

    #[test]
    fn key_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        // SAFETY-free: the test does not set CAMWATCH_SECRET_KEY.
        let k1 = SecretKey::load(&path).unwrap();
        let k2 = SecretKey::load(&path).unwrap();
        let sealed = k1.seal("c", &Password::new("x"));
        assert_eq!(k2.open("c", &sealed).unwrap().expose(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
