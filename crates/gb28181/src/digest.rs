//! SIP digest authentication (RFC 2617 as RFC 3261 uses it, MD5) as GB/T 28181 registrations
//! use it: the realm is the platform's domain, the username the device's 20-digit ID, `qop`
//! optional (`auth` when the device sends it, the RFC 2069 form when not).
//!
//! Nonces are stateless: `hex(issued_at) ‖ hex(seq) ‖ hex(MD5(secret:issued_at:seq))`, so
//! checking one needs no table a REGISTER storm could grow, only the secret and the time
//! (injected: Unix seconds); `seq` counts the challenges issued, so that no two challenges
//! carry the same nonce and a nonce's counts (`crate::nonce_count`, replay protection) belong
//! to one exchange. A nonce older than [`NONCE_TTL_SEC`] is stale and answered with a fresh
//! challenge.
//!
//! Must not: log or keep a password, or compare digests in a way that stops at the first
//! differing byte.

use std::sync::atomic::{AtomicU32, Ordering};

use md5::{Digest, Md5};
use rsipstack::sip::typed::tokenizers::AuthTokenizer;

/// How long a nonce is accepted after it was issued, seconds.
pub const NONCE_TTL_SEC: i64 = 300;

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Issues and checks nonces with a per-process secret.
pub struct Nonces {
    secret: [u8; 16],
    /// Challenges issued (wrapping): part of every nonce.
    seq: AtomicU32,
}

impl Clone for Nonces {
    fn clone(&self) -> Self {
        Self {
            secret: self.secret,
            seq: AtomicU32::new(self.seq.load(Ordering::Relaxed)),
        }
    }
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces { secret: <redacted> }")
    }
}

impl Nonces {
    pub fn new(secret: [u8; 16]) -> Self {
        Self {
            secret,
            seq: AtomicU32::new(0),
        }
    }

    /// A random secret (from the operating system).
    pub fn random() -> Self {
        let mut secret = [0u8; 16];
        // No entropy source at all is a broken host; a fixed secret would still authenticate
        // (nonces stay unguessable only as long as the secret is), so fail loudly instead.
        getrandom::fill(&mut secret).expect("the operating system's random source");
        Self::new(secret)
    }

    /// A new nonce issued at `now`: never the same as an earlier one of this process (until
    /// 2^32 challenges within one second).
    pub fn issue(&self, now: i64) -> String {
        let ts = format!("{:016x}", now as u64);
        let seq = format!("{:08x}", self.seq.fetch_add(1, Ordering::Relaxed));
        let mac = md5_hex(&[&hex::encode(self.secret), &ts, &seq]);
        format!("{ts}{seq}{mac}")
    }

    /// Whether `nonce` is ours and not older than [`NONCE_TTL_SEC`] (nor from the future).
    pub fn check(&self, nonce: &str, now: i64) -> NonceCheck {
        if nonce.len() != 56 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let (ts, rest) = nonce.split_at(16);
        let (seq, mac) = rest.split_at(8);
        let Ok(issued) = u64::from_str_radix(ts, 16) else {
            return NonceCheck::Invalid;
        };
        if !constant_eq(&md5_hex(&[&hex::encode(self.secret), ts, seq]), mac) {
            return NonceCheck::Invalid;
        }
        let age = now.saturating_sub(issued as i64);
        if (0..=NONCE_TTL_SEC).contains(&age) {
            NonceCheck::Fresh
        } else {
            NonceCheck::Stale
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Fresh,
    /// Ours but too old: challenge again with `stale=true`.
    Stale,
    /// Not issued by us.
    Invalid,
}

/// The WWW-Authenticate value of a challenge.
pub fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5{stale}")
}

/// The fields of an Authorization header's digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("Authorization: {0}")]
    Syntax(String),
    #[error("Authorization: scheme {0:?} is not Digest")]
    Scheme(String),
    #[error("Authorization: missing {0}")]
    Missing(&'static str),
    #[error("Authorization: algorithm {0:?} is not MD5")]
    Algorithm(String),
    #[error("Authorization: qop {0:?} is not auth")]
    Qop(String),
}

impl Credentials {
    /// Parses an Authorization value (tokenised by `rsipstack`: the values as sent, quotes
    /// removed, so that the digest is computed over exactly the URI the device hashed).
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let tok = AuthTokenizer::parse(value).map_err(|e| DigestError::Syntax(e.to_string()))?;
        if !tok.scheme.eq_ignore_ascii_case("digest") {
            return Err(DigestError::Scheme(tok.scheme.to_string()));
        }
        let get = |name: &str| {
            tok.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        };
        if let Some(alg) = get("algorithm")
            && !alg.eq_ignore_ascii_case("md5")
        {
            return Err(DigestError::Algorithm(alg));
        }
        let qop = get("qop");
        if let Some(q) = &qop
            && !q.eq_ignore_ascii_case("auth")
        {
            return Err(DigestError::Qop(q.clone()));
        }
        let creds = Self {
            username: get("username").ok_or(DigestError::Missing("username"))?,
            realm: get("realm").ok_or(DigestError::Missing("realm"))?,
            nonce: get("nonce").ok_or(DigestError::Missing("nonce"))?,
            uri: get("uri").ok_or(DigestError::Missing("uri"))?,
            response: get("response").ok_or(DigestError::Missing("response"))?,
            nc: get("nc"),
            cnonce: get("cnonce"),
            qop,
        };
        if creds.qop.is_some() && (creds.nc.is_none() || creds.cnonce.is_none()) {
            return Err(DigestError::Missing("nc and cnonce (with qop)"));
        }
        Ok(creds)
    }

    /// The response a device knowing `password` computes for `method`.
    pub fn expected(&self, method: &str, password: &str) -> String {
        let ha1 = md5_hex(&[&self.username, &self.realm, password]);
        let ha2 = md5_hex(&[method, &self.uri]);
        match (&self.qop, &self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) => {
                md5_hex(&[&ha1, &self.nonce, nc, cnonce, qop, &ha2])
            }
            _ => md5_hex(&[&ha1, &self.nonce, &ha2]),
        }
    }

    /// Whether the device knows `password`.
    pub fn verify(&self, method: &str, password: &str) -> bool {
        constant_eq(
            &self.expected(method, password),
            &self.response.to_ascii_lowercase(),
        )
    }
}

/// The realm and nonce of a WWW-Authenticate challenge (a device's side of the exchange: the
/// simulator's devices answer camwatch's challenges with this and [`answer`]).
pub fn parse_challenge(value: &str) -> Result<(String, String), DigestError> {
    let tok = AuthTokenizer::parse(value).map_err(|e| DigestError::Syntax(e.to_string()))?;
    if !tok.scheme.eq_ignore_ascii_case("digest") {
        return Err(DigestError::Scheme(tok.scheme.to_string()));
    }
    let get = |name: &str| {
        tok.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    Ok((
        get("realm").ok_or(DigestError::Missing("realm"))?,
        get("nonce").ok_or(DigestError::Missing("nonce"))?,
    ))
}

/// The Authorization value a device with `username` and `password` sends for `method` on
/// `uri`, answering a challenge of `realm` and `nonce` (RFC 2069 form, no qop).
pub fn answer(
    username: &str,
    password: &str,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
) -> String {
    let c = Credentials {
        username: username.into(),
        realm: realm.into(),
        nonce: nonce.into(),
        uri: uri.into(),
        response: String::new(),
        qop: None,
        nc: None,
        cnonce: None,
    };
    format!(
        "Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{}\", algorithm=MD5",
        c.expected(method, password)
    )
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_device_answer_verifies() {
        let nonces = Nonces::new([7; 16]);
        let nonce = nonces.issue(1000);
        let (realm, n) = parse_challenge(&challenge("3402000000", &nonce, false)).unwrap();
        assert_eq!((realm.as_str(), n.as_str()), ("3402000000", nonce.as_str()));
        let auth = answer(
            "34020000001320000001",
            "pw",
            &realm,
            &n,
            "REGISTER",
            "sip:34020000002000000001@3402000000",
        );
        let c = Credentials::parse(&auth).unwrap();
        assert!(c.verify("REGISTER", "pw"));
        assert!(!c.verify("REGISTER", "other"));
        assert!(parse_challenge("Basic realm=\"x\"").is_err());
    }

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5: Mufasa / Circle Of Life.
        let c = Credentials::parse(
            "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, \
             nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(c.verify("GET", "Circle Of Life"));
        assert!(!c.verify("GET", "circle of life"));
    }

    #[test]
    fn without_qop() {
        let n = Nonces::new([7; 16]).issue(1000);
        let mut c = Credentials {
            username: "34020000001320000001".into(),
            realm: "3402000000".into(),
            nonce: n,
            uri: "sip:34020000002000000001@3402000000".into(),
            response: String::new(),
            qop: None,
            nc: None,
            cnonce: None,
        };
        c.response = c.expected("REGISTER", "12345678");
        assert!(c.verify("REGISTER", "12345678"));
        assert!(!c.verify("REGISTER", "12345679"));
    }

    #[test]
    fn nonces_age_and_forgeries() {
        let n = Nonces::new([1; 16]);
        let nonce = n.issue(1_000_000);
        assert_eq!(n.check(&nonce, 1_000_000), NonceCheck::Fresh);
        assert_eq!(
            n.check(&nonce, 1_000_000 + NONCE_TTL_SEC),
            NonceCheck::Fresh
        );
        assert_eq!(
            n.check(&nonce, 1_000_001 + NONCE_TTL_SEC),
            NonceCheck::Stale
        );
        assert_eq!(n.check(&nonce, 999_999), NonceCheck::Stale);
        assert_eq!(
            Nonces::new([2; 16]).check(&nonce, 1_000_000),
            NonceCheck::Invalid
        );
        assert_eq!(n.check("00", 0), NonceCheck::Invalid);
        // Its sequence number is covered by the MAC.
        let mut other_seq = nonce.clone().into_bytes();
        other_seq[23] = if other_seq[23] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            n.check(std::str::from_utf8(&other_seq).unwrap(), 1_000_000),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn no_two_challenges_share_a_nonce() {
        let n = Nonces::new([1; 16]);
        let a = n.issue(1_000_000);
        let b = n.issue(1_000_000);
        assert_ne!(a, b);
        assert_eq!(n.check(&a, 1_000_000), NonceCheck::Fresh);
        assert_eq!(n.check(&b, 1_000_000), NonceCheck::Fresh);
        assert_eq!(n.clone().check(&a, 1_000_000), NonceCheck::Fresh);
    }

    #[test]
    fn refuses_other_schemes_and_algorithms() {
        assert!(matches!(
            Credentials::parse("Basic abc"),
            Err(DigestError::Syntax(_) | DigestError::Scheme(_))
        ));
        assert_eq!(
            Credentials::parse(
                "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\", algorithm=SHA-256"
            ),
            Err(DigestError::Algorithm("SHA-256".into()))
        );
        assert_eq!(
            Credentials::parse("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\""),
            Err(DigestError::Missing("response"))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(s in ".{0,300}") {
            let _ = Credentials::parse(&s);
        }

        #[test]
        fn a_nonce_is_fresh_for_its_lifetime(now in 0i64..4_000_000_000, age in 0i64..1000) {
            let n = Nonces::new([3; 16]);
            let nonce = n.issue(now);
            let expected = if age <= NONCE_TTL_SEC { NonceCheck::Fresh } else { NonceCheck::Stale };
            prop_assert_eq!(n.check(&nonce, now + age), expected);
        }
    }
}
