//! Server side of RTSP/HTTP authentication for the simulator: a Digest challenge (RFC 2617
//! without qop, as most cameras send it) and checking Basic or Digest answers.

use base64::Engine;
use md5::{Digest, Md5};

pub const REALM: &str = "camwatch-sim";

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The `WWW-Authenticate` value for a fresh nonce.
pub fn challenge(nonce: &str) -> String {
    format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"")
}

/// Extracts `key="value"` or `key=value` from a Digest header.
fn param<'a>(h: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = h;
    while let Some(i) = rest.find(key) {
        let before_ok = i == 0 || matches!(rest.as_bytes()[i - 1], b' ' | b',');
        let after = &rest[i + key.len()..];
        if before_ok && let Some(v) = after.strip_prefix('=') {
            return Some(match v.strip_prefix('"') {
                Some(q) => &q[..q.find('"').unwrap_or(q.len())],
                None => v.split(',').next().unwrap_or("").trim(),
            });
        }
        rest = &rest[i + key.len()..];
    }
    None
}

/// Does `authorization` prove knowledge of (user, password) for `method`?
pub fn check(
    authorization: Option<&str>,
    method: &str,
    user: &str,
    password: &str,
    nonce: &str,
) -> bool {
    let Some(a) = authorization else { return false };
    if let Some(b) = a.strip_prefix("Basic ") {
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b.trim()) else {
            return false;
        };
        return raw == format!("{user}:{password}").as_bytes();
    }
    let Some(d) = a.strip_prefix("Digest ") else {
        return false;
    };
    let (Some(u), Some(n), Some(uri), Some(resp)) = (
        param(d, "username"),
        param(d, "nonce"),
        param(d, "uri"),
        param(d, "response"),
    ) else {
        return false;
    };
    if u != user || n != nonce {
        return false;
    }
    let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let expected = match (param(d, "qop"), param(d, "nc"), param(d, "cnonce")) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    expected.eq_ignore_ascii_case(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_basic() {
        let nonce = "abc";
        let ha1 = md5_hex(&format!("admin:{REALM}:pw"));
        let ha2 = md5_hex("DESCRIBE:rtsp://127.0.0.1/x");
        let r = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let h = format!(
            "Digest username=\"admin\", realm=\"{REALM}\", nonce=\"abc\", uri=\"rtsp://127.0.0.1/x\", response=\"{r}\""
        );
        assert!(check(Some(&h), "DESCRIBE", "admin", "pw", nonce));
        assert!(!check(Some(&h), "DESCRIBE", "admin", "other", nonce));
        assert!(check(
            Some("Basic YWRtaW46cHc="),
            "GET",
            "admin",
            "pw",
            nonce
        ));
        assert!(!check(None, "GET", "admin", "pw", nonce));
    }
}
