//! SIP messages at the wire boundary: framing a TCP stream, parsing one message into the few
//! fields the platform acts on, and writing responses and requests.
//!
//! **Parsing** is `rsipstack`'s (its `sip` module: the maintained successor of `rsip`), behind
//! two guards of our own that it does not have: a message larger than [`MAX_MESSAGE`] or with
//! more than [`MAX_HEADERS`] header lines is refused before it is parsed. Every failure is a
//! [`SipError`] naming what was wrong and where (start line, which header, the body); nothing
//! here panics on any input (a property test and a fuzz target feed it arbitrary bytes).
//!
//! **Writing is by hand**, on purpose: a response must echo the request's Via, From, Call-ID and
//! CSeq values exactly as received (RFC 3261 §8.2.6.2), and copying the received text is the
//! most faithful way to do that; a typed round trip could re-order parameters or re-quote. The
//! requests we send (MESSAGE with a MANSCDP body) are a fixed template of seven headers.
//!
//! Must not: keep state, do I/O, or decide anything (that is the platform's job).

use std::fmt::Write as _;

pub use rsipstack::sip::Method;
use rsipstack::sip::{Header, SipMessage};

/// The largest SIP message accepted, headers and body. A catalog page of a few items is a few
/// KiB; 64 KiB leaves room for devices that put hundreds of items in one page.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The most header lines accepted in one message (sipp and real devices send about a dozen).
pub const MAX_HEADERS: usize = 64;

/// Why bytes are not a SIP message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("SIP message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("SIP message has {count} header lines, more than the limit of {limit}")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("SIP message has no end of headers (CRLF CRLF)")]
    Unterminated,
    #[error("SIP start line {line:?}: {detail}")]
    StartLine { line: String, detail: String },
    #[error("SIP header {name}: {detail}")]
    Header { name: &'static str, detail: String },
    #[error("SIP message lacks the {0} header")]
    MissingHeader(&'static str),
    #[error("SIP body: Content-Length {declared} but {actual} bytes follow")]
    BodyLength { declared: usize, actual: usize },
    #[error("SIP message: {0}")]
    Syntax(String),
}

/// The fields shared by requests and responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Every Via value, top first, as received.
    pub vias: Vec<String>,
    pub from: String,
    /// The user part of the From URI: a GB/T 28181 peer's 20-digit ID.
    pub from_user: String,
    pub from_tag: Option<String>,
    pub to: String,
    pub to_tag: Option<String>,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Common {
    /// The top Via's `branch` parameter, as received: with the CSeq method, what matches a
    /// response to the request it answers (RFC 3261 §17.1.3).
    pub fn branch(&self) -> Option<&str> {
        let top = self.vias.first()?;
        top.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("branch").then(|| v.trim())
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InRequest {
    pub method: Method,
    pub uri: String,
    pub expires: Option<u32>,
    /// The Authorization header's value, as received.
    pub authorization: Option<String>,
    pub common: Common,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InResponse {
    pub status: u16,
    /// The Expires header (a SUBSCRIBE's granted lifetime), when present and a number.
    pub expires: Option<u32>,
    /// The WWW-Authenticate header's value of a `401`, as received.
    pub www_authenticate: Option<String>,
    pub common: Common,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Request(InRequest),
    Response(InResponse),
}

/// The length of the first complete message at the start of a TCP stream's buffer: `Ok(None)`
/// while more bytes are needed. Refuses a head or message over [`MAX_MESSAGE`] as soon as that
/// is certain, so a peer cannot make us buffer without bound.
pub fn frame(buf: &[u8]) -> Result<Option<usize>, SipError> {
    // Keepalive CRLFs between messages (RFC 5626) are skipped by the caller; here they would
    // only be an empty start line.
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > MAX_MESSAGE {
            return Err(SipError::TooLarge {
                size: buf.len(),
                limit: MAX_MESSAGE,
            });
        }
        return Ok(None);
    };
    let head = &buf[..head_end];
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = trim_cr(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii()).unwrap_or("");
            length = value.parse().map_err(|_| SipError::Header {
                name: "Content-Length",
                detail: format!("not a number: {value:?}"),
            })?;
        }
    }
    let total = head_end.saturating_add(4).saturating_add(length);
    if total > MAX_MESSAGE {
        return Err(SipError::TooLarge {
            size: total,
            limit: MAX_MESSAGE,
        });
    }
    Ok((buf.len() >= total).then_some(total))
}

/// Parses one whole message (a UDP datagram, or a TCP frame from [`frame`]).
pub fn parse(bytes: &[u8]) -> Result<Inbound, SipError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(SipError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE,
        });
    }
    let head_end = find(bytes, b"\r\n\r\n").ok_or(SipError::Unterminated)?;
    let head = &bytes[..head_end];
    let lines = head.split(|&b| b == b'\n').count();
    if lines.saturating_sub(1) > MAX_HEADERS {
        return Err(SipError::TooManyHeaders {
            count: lines - 1,
            limit: MAX_HEADERS,
        });
    }
    let start = String::from_utf8_lossy(trim_cr(head.split(|&b| b == b'\n').next().unwrap_or(b"")))
        .into_owned();
    if !start.contains("SIP/2.0") {
        return Err(SipError::StartLine {
            line: start,
            detail: "not a SIP/2.0 request or status line".into(),
        });
    }
    let message = SipMessage::try_from(bytes).map_err(|e| SipError::Syntax(e.to_string()))?;
    match message {
        SipMessage::Request(r) => {
            let common = common(&r.headers, r.body)?;
            let mut expires = None;
            let mut authorization = None;
            for h in r.headers.iter() {
                match h {
                    Header::Expires(v) => {
                        expires = Some(v.value().trim().parse().map_err(|_| SipError::Header {
                            name: "Expires",
                            detail: format!("not a number of seconds: {:?}", v.value()),
                        })?)
                    }
                    Header::Authorization(v) => authorization = Some(v.value().to_string()),
                    _ => {}
                }
            }
            Ok(Inbound::Request(InRequest {
                method: r.method,
                uri: r.uri.to_string(),
                expires,
                authorization,
                common,
            }))
        }
        SipMessage::Response(r) => {
            let status = r.status_code.code();
            let common = common(&r.headers, r.body)?;
            let www_authenticate = r.headers.iter().find_map(|h| match h {
                Header::WwwAuthenticate(v) => Some(v.value().to_string()),
                _ => None,
            });
            let expires = r.headers.iter().find_map(|h| match h {
                Header::Expires(v) => v.value().trim().parse().ok(),
                _ => None,
            });
            Ok(Inbound::Response(InResponse {
                status,
                expires,
                www_authenticate,
                common,
            }))
        }
    }
}

fn common(headers: &rsipstack::sip::Headers, body: Vec<u8>) -> Result<Common, SipError> {
    let mut vias = Vec::new();
    let mut from = None;
    let mut to = None;
    let mut call_id = None;
    let mut cseq = None;
    let mut content_type = None;
    let mut content_length = None;
    for h in headers.iter() {
        match h {
            Header::Via(v) => vias.push(v.value().to_string()),
            Header::From(v) => from = Some(v.value().to_string()),
            Header::To(v) => to = Some(v.value().to_string()),
            Header::CallId(v) => call_id = Some(v.value().to_string()),
            Header::CSeq(v) => cseq = Some(v.value().to_string()),
            Header::ContentType(v) => content_type = Some(v.value().to_string()),
            Header::ContentLength(v) => content_length = Some(v.value().trim().to_string()),
            _ => {}
        }
    }
    if vias.is_empty() {
        return Err(SipError::MissingHeader("Via"));
    }
    let from = from.ok_or(SipError::MissingHeader("From"))?;
    let to = to.ok_or(SipError::MissingHeader("To"))?;
    let call_id = call_id.ok_or(SipError::MissingHeader("Call-ID"))?;
    let cseq = cseq.ok_or(SipError::MissingHeader("CSeq"))?;
    let (number, method) =
        cseq.trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| SipError::Header {
                name: "CSeq",
                detail: format!("expected `number METHOD`, got {cseq:?}"),
            })?;
    let number = number.parse().map_err(|_| SipError::Header {
        name: "CSeq",
        detail: format!("sequence number {number:?} is not a 32-bit number"),
    })?;
    let cseq_method = Method::try_from(method.trim().as_bytes()).map_err(|_| SipError::Header {
        name: "CSeq",
        detail: format!("unknown method {method:?}"),
    })?;
    if let Some(declared) = content_length {
        let declared: usize = declared.parse().map_err(|_| SipError::Header {
            name: "Content-Length",
            detail: format!("not a number: {declared:?}"),
        })?;
        if declared != body.len() {
            return Err(SipError::BodyLength {
                declared,
                actual: body.len(),
            });
        }
    }
    let from_user = uri_user(&from).ok_or_else(|| SipError::Header {
        name: "From",
        detail: format!("no sip:user@host URI in {from:?}"),
    })?;
    Ok(Common {
        vias,
        from_tag: param(&from, "tag"),
        from_user,
        to_tag: param(&to, "tag"),
        from,
        to,
        call_id,
        cseq: number,
        cseq_method,
        content_type,
        body,
    })
}

/// The user part of the first `sip:` URI in a name-addr (`<sip:3402…@3402000000>;tag=x`).
fn uri_user(value: &str) -> Option<String> {
    let start = value.find("sip:")? + 4;
    let rest = &value[start..];
    let at = rest.find('@')?;
    let user = &rest[..at];
    (!user.is_empty() && !user.contains(['>', ';', ' '])).then(|| user.to_string())
}

/// A header parameter outside the URI's angle brackets (`;tag=…`).
fn param(value: &str, name: &str) -> Option<String> {
    let after_uri = value.rfind('>').map_or(value, |i| &value[i + 1..]);
    after_uri.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A response to `req`: Via, From, Call-ID and CSeq echoed; To gets `to_tag` unless it has one.
pub fn response(
    req: &InRequest,
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &[(&str, String)],
) -> Vec<u8> {
    let c = &req.common;
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for via in &c.vias {
        let _ = write!(out, "Via: {via}\r\n");
    }
    let _ = write!(out, "From: {}\r\n", c.from);
    if c.to_tag.is_some() {
        let _ = write!(out, "To: {}\r\n", c.to);
    } else {
        let _ = write!(out, "To: {};tag={to_tag}\r\n", c.to);
    }
    let _ = write!(out, "Call-ID: {}\r\n", c.call_id);
    let _ = write!(out, "CSeq: {} {}\r\n", c.cseq, c.cseq_method);
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.push_str("User-Agent: camwatch\r\nContent-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// The `Date` header GB/T 28181 puts in the 200 to a REGISTER for the device to set its clock
/// by: local time in `tz`, without a zone, to the millisecond (`2026-12-05T20:34:56.789`).
pub fn gb_date(at_ms: i64, tz: &jiff::tz::TimeZone) -> String {
    let at = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string()
}

/// A response to `req` with a body of `content_type` (a device's SDP answer to an INVITE).
pub fn response_with_body(
    req: &InRequest,
    status: u16,
    reason: &str,
    to_tag: &str,
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = response(
        req,
        status,
        reason,
        to_tag,
        &[("Content-Type", content_type.to_string())],
    );
    // The head ends "Content-Length: 0" CRLF CRLF: replaced with the body's length.
    let tail = b"Content-Length: 0\r\n\r\n".len();
    out.truncate(out.len() - tail);
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// What a request we send needs besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest<'a> {
    pub method: Method,
    /// The peer's ID and where it is (`host:port`).
    pub to_user: &'a str,
    pub to_host: &'a str,
    /// Our ID and domain.
    pub from_user: &'a str,
    pub from_domain: &'a str,
    /// Our address as the peer should answer it (`host:port`) and the transport (`UDP`/`TCP`).
    pub via_host: &'a str,
    pub transport: &'a str,
    pub branch: &'a str,
    pub from_tag: &'a str,
    /// The peer's tag, for a request inside a dialog (a SUBSCRIBE refresh, a NOTIFY).
    pub to_tag: Option<&'a str>,
    pub call_id: &'a str,
    pub cseq: u32,
    pub content_type: &'a str,
}

/// A request with `body` (a MANSCDP document).
pub fn request(r: &OutRequest<'_>, body: &[u8]) -> Vec<u8> {
    request_with(r, &[], body)
}

/// A request with `extra` headers (Expires, Authorization, Contact: a device's REGISTER) and
/// `body`. Header values are written as given: callers pass their own, never a peer's, text.
pub fn request_with(r: &OutRequest<'_>, extra: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut head = String::new();
    for (name, value) in extra {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let mut out = format!(
        "{method} sip:{to_user}@{to_host} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {via};rport;branch=z9hG4bK{branch}\r\n\
         From: <sip:{from_user}@{from_domain}>;tag={from_tag}\r\n\
         To: <sip:{to_user}@{to_host}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\n\
         User-Agent: camwatch\r\n\
         {head}\
         Content-Type: {content_type}\r\n\
         Content-Length: {len}\r\n\r\n",
        method = r.method,
        to_user = r.to_user,
        to_host = r.to_host,
        transport = r.transport,
        via = r.via_host,
        branch = r.branch,
        from_user = r.from_user,
        from_domain = r.from_domain,
        from_tag = r.from_tag,
        to_tag = r.to_tag.map_or(String::new(), |t| format!(";tag={t}")),
        call_id = r.call_id,
        cseq = r.cseq,
        content_type = r.content_type,
        len = body.len(),
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REGISTER: &[u8] = b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK1\r\n\
From: <sip:34020000001320000001@3402000000>;tag=abc\r\n\
To: <sip:34020000001320000001@3402000000>\r\n\
Call-ID: 1@127.0.0.1\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:34020000001320000001@127.0.0.1:5061>\r\n\
Max-Forwards: 70\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn the_date_header_is_local_time_to_the_millisecond() {
        let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        // 2026-12-05T12:34:56.789Z is 20:34:56.789 in Beijing (UTC+8, no DST).
        let at = jiff::Timestamp::from_millisecond(1_796_474_096_789).unwrap();
        assert_eq!(at.to_string(), "2026-12-05T12:34:56.789Z");
        assert_eq!(
            gb_date(at.as_millisecond(), &shanghai),
            "2026-12-05T20:34:56.789"
        );
        assert_eq!(
            gb_date(at.as_millisecond(), &jiff::tz::TimeZone::UTC),
            "2026-12-05T12:34:56.789"
        );
        // Whole seconds still carry three digits of milliseconds.
        assert_eq!(
            gb_date(1_796_474_096_000, &jiff::tz::TimeZone::UTC),
            "2026-12-05T12:34:56.000"
        );
    }

    proptest! {
        /// Any instant reads back from its header as the same local time, to the millisecond.
        #[test]
        fn the_date_header_reads_back(ms in 0i64..4_102_444_800_000) {
            let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
            let text = gb_date(ms, &tz);
            prop_assert_eq!(text.len(), 23);
            let back: jiff::civil::DateTime = text.parse().unwrap();
            let zoned = back.to_zoned_datetime(tz).unwrap();
            prop_assert_eq!(zoned.timestamp().as_millisecond(), ms);
        }
    }

    #[test]
    fn parses_a_register() {
        let Inbound::Request(r) = parse(REGISTER).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Register);
        assert_eq!(r.expires, Some(3600));
        assert_eq!(r.common.from_user, "34020000001320000001");
        assert_eq!(r.common.from_tag.as_deref(), Some("abc"));
        assert_eq!(r.common.to_tag, None);
        assert_eq!(r.common.cseq, 1);
        assert_eq!(r.common.cseq_method, Method::Register);
        assert_eq!(r.common.vias.len(), 1);
    }

    #[test]
    fn response_echoes_the_request() {
        let Inbound::Request(r) = parse(REGISTER).unwrap() else {
            panic!()
        };
        let bytes = response(&r, 200, "OK", "t1", &[("Expires", "3600".into())]);
        let Inbound::Response(resp) = parse(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(resp.status, 200);
        assert_eq!(resp.common.call_id, "1@127.0.0.1");
        assert_eq!(resp.common.to_tag.as_deref(), Some("t1"));
        assert_eq!(resp.common.vias, r.common.vias);
        assert_eq!(resp.common.branch(), Some("z9hG4bK1"));
    }

    #[test]
    fn frames_a_stream() {
        let mut two = REGISTER.to_vec();
        two.extend_from_slice(REGISTER);
        assert_eq!(frame(&two).unwrap(), Some(REGISTER.len()));
        assert_eq!(frame(&REGISTER[..10]).unwrap(), None);
        let huge = format!(
            "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        assert!(matches!(
            frame(huge.as_bytes()),
            Err(SipError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_what_is_wrong_and_says_where() {
        let no_cseq = String::from_utf8_lossy(REGISTER).replace("CSeq: 1 REGISTER\r\n", "");
        assert_eq!(
            parse(no_cseq.as_bytes()),
            Err(SipError::MissingHeader("CSeq"))
        );
        let bad_expires = String::from_utf8_lossy(REGISTER).replace("3600", "soon");
        assert!(matches!(
            parse(bad_expires.as_bytes()),
            Err(SipError::Header {
                name: "Expires",
                ..
            })
        ));
        let many = String::from_utf8_lossy(REGISTER).replace(
            "Max-Forwards: 70\r\n",
            &"X-Pad: 1\r\n".repeat(MAX_HEADERS + 1),
        );
        assert!(matches!(
            parse(many.as_bytes()),
            Err(SipError::TooManyHeaders { .. })
        ));
        assert!(matches!(
            parse(b"HELLO\r\n\r\n"),
            Err(SipError::StartLine { .. })
        ));
        let short_body = String::from_utf8_lossy(REGISTER).replace("Length: 0", "Length: 5");
        assert!(parse(short_body.as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
            let _ = frame(&bytes);
        }

        #[test]
        fn mutated_registers_never_panic(pos in 0..REGISTER.len(), byte in any::<u8>(), cut in 0..REGISTER.len()) {
            let mut m = REGISTER.to_vec();
            m[pos] = byte;
            let _ = parse(&m);
            let _ = parse(&m[..cut]);
            let _ = frame(&m[..cut]);
        }
    }
}
