//! The secrets of accounts: argon2id password hashes, random values from the OS, and the
//! SHA-256 digests under which session ids, CSRF tokens and API tokens are stored.
//!
//! Random values are 256 bits from the operating system's generator, so a fast hash is enough
//! to store them: nobody can search a 2^256 space, which is what a slow hash guards against.
//! Passwords are people's, guessable, and get argon2id with the crate's defaults (OWASP's
//! m = 19 MiB, t = 2, p = 1), each with its own random salt; the PHC string carries the
//! parameters, so raising them later still verifies old hashes.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use camwatch_core::error::{Error, Result};

/// A secret handed to a client once (a session id, a CSRF token, an API token, a generated
/// password): redacted in `Debug` and `Display`; [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, to send to its owner once. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// 32 random bytes from the OS.
fn random_bytes() -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| Error::internal(format!("the OS random generator: {e}")))?;
    Ok(b)
}

/// A fresh random value as `prefix` + 64 hex digits.
pub(crate) fn random_token(prefix: &str) -> Result<Secret> {
    Ok(Secret(format!("{prefix}{}", hex::encode(random_bytes()?))))
}

/// The stored form of a random value: hex SHA-256.
pub(crate) fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Equality of two digests without an early exit (their length is public).
pub(crate) fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// argon2id of `password` with a fresh salt, as a PHC string.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("argon2: {e}")))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash matches nothing.
pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// A password of 16 characters that passes `rule`, from an alphabet without look-alikes
/// (no 0/O, 1/l/I), for the first admin and for accounts created without one.
pub(crate) fn generate_password(rule: &camwatch_core::access::PasswordRule) -> Result<Secret> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@";
    loop {
        let bytes = random_bytes()?;
        // 256 is a multiple of 64 = ALPHABET.len(): no modulo bias.
        let p: String = bytes[..16]
            .iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
            .collect();
        if rule.problems(&p, "").is_empty() {
            return Ok(Secret(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("Camw4tch!").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("Camw4tch!", &h));
        assert!(!verify_password("camw4tch!", &h));
        assert!(!verify_password("Camw4tch!", "not a hash"));
        assert_ne!(h, hash_password("Camw4tch!").unwrap(), "salted");
    }

    #[test]
    fn random_values_are_fresh_and_stored_as_digests() {
        let a = random_token("cwt_").unwrap();
        let b = random_token("cwt_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 4 + 64);
        assert_eq!(format!("{a:?} {a}"), "Secret(***) ***");
        let d = digest(a.expose());
        assert_eq!(d.len(), 64);
        assert!(same_digest(&d, &digest(a.expose())));
        assert!(!same_digest(&d, &digest(b.expose())));
        assert!(!same_digest(&d, &d[..63]));
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_passwords_pass_the_rule() {
        let rule = camwatch_core::access::PasswordRule::default();
        for _ in 0..50 {
            let p = generate_password(&rule).unwrap();
            assert!(rule.problems(p.expose(), "").is_empty(), "{}", p.expose());
            assert_eq!(p.expose().chars().count(), 16);
        }
    }
}
