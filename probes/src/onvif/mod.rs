//! ONVIF probe: GetSystemDateAndTime (clock drift), GetDeviceInformation (vendor, model,
//! firmware, serial), GetCapabilities (the media service address), GetProfiles, GetStreamUri
//! and GetSnapshotUri, with WS-UsernameToken PasswordDigest authentication.
//!
//! Hand-written on quick-xml: the crates.io `onvif` crate is an empty 0.0.0 placeholder, and the
//! six calls a probe makes are fixed SOAP 1.2 envelopes. Replies go through `xml`, a bounded
//! tree that refuses DOCTYPEs (so no entity expansion) and oversized or over-deep documents;
//! bodies are capped at `max_bytes` and every call runs under the probe's one deadline.
//!
//! The token's `Created` is stamped in the camera's clock (ours plus the drift just measured),
//! as cameras reject tokens whose time is far from theirs.

pub mod xml;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha1::{Digest, Sha1};
use url::Url;

use crate::creds::Credentials;
use crate::outcome::{FailureKind, ProbeKind, ProbeOutcome, StepTiming};
use xml::Element;

#[derive(Debug, Clone)]
pub struct OnvifTarget {
    /// The device service, e.g. `http://10.0.0.5/onvif/device_service`, without credentials.
    pub device_url: Url,
    pub creds: Option<Credentials>,
}

#[derive(Debug, Clone)]
pub struct OnvifOptions {
    /// For the whole probe, all calls included.
    pub deadline: Duration,
    /// Largest reply accepted, per call.
    pub max_bytes: usize,
}

impl Default for OnvifOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(10),
            max_bytes: 256 * 1024,
        }
    }
}

const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const DIGEST_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const NONCE_TYPE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `Created` + nonce + digest of a WS-UsernameToken: base64(sha1(nonce ‖ created ‖ password)).
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut h = Sha1::new();
    h.update(nonce);
    h.update(created.as_bytes());
    h.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

fn envelope(body: &str, security: Option<String>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:tds=\"{NS_DEVICE}\" xmlns:trt=\"{NS_MEDIA}\" xmlns:tt=\"{NS_SCHEMA}\">\
         <s:Header>{}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        security.unwrap_or_default()
    )
}

fn security(c: &Credentials, camera_now: i64) -> String {
    let mut nonce = [0u8; 16];
    rand::fill(&mut nonce);
    let created = rfc3339(camera_now);
    format!(
        "<wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\">\
         <wsse:UsernameToken><wsse:Username>{}</wsse:Username>\
         <wsse:Password Type=\"{DIGEST_TYPE}\">{}</wsse:Password>\
         <wsse:Nonce EncodingType=\"{NONCE_TYPE}\">{}</wsse:Nonce>\
         <wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>",
        escape(&c.username),
        password_digest(&nonce, &created, &c.password),
        base64::engine::general_purpose::STANDARD.encode(nonce),
    )
}

type Failure = (FailureKind, String);

/// A SOAP fault's code (the most specific subcode, e.g. `ter:NotAuthorized`) and reason.
pub fn soap_fault(root: &Element) -> Option<(String, String)> {
    let fault = root.find("Fault")?;
    let mut values = Vec::new();
    if let Some(code) = fault.find("Code") {
        code.find_all("Value", &mut values);
    }
    let code = values
        .last()
        .map(|v| v.text.clone())
        .or_else(|| fault.text_of("faultcode").map(str::to_string))
        .unwrap_or_default();
    let reason = fault
        .find("Reason")
        .and_then(|r| r.find("Text"))
        .map(|t| t.text.clone())
        .or_else(|| fault.text_of("faultstring").map(str::to_string))
        .unwrap_or_default();
    Some((code, reason))
}

fn classify(e: &reqwest::Error) -> FailureKind {
    crate::snapshot::classify(e)
}

struct Call<'a> {
    client: &'a reqwest::Client,
    creds: Option<&'a Credentials>,
    deadline: Instant,
    max_bytes: usize,
    drift_sec: i64,
}

impl Call<'_> {
    async fn call(
        &self,
        url: &Url,
        action: &str,
        body: &str,
        auth: bool,
    ) -> Result<Element, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err((FailureKind::Deadline, format!("{action}: no time left")));
        }
        let sec = match (auth, self.creds) {
            (true, Some(c)) => Some(security(c, unix_now() + self.drift_sec)),
            _ => None,
        };
        let resp = self
            .client
            .post(url.clone())
            .timeout(left)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            )
            .body(envelope(body, sec))
            .send()
            .await
            .map_err(|e| (classify(&e), format!("{action}: {}", e.without_url())))?;
        let status = resp.status();
        let mut resp = resp;
        let mut bytes = Vec::new();
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, resp.chunk()).await {
                Ok(Ok(Some(c))) => {
                    if bytes.len() + c.len() > self.max_bytes {
                        return Err((
                            FailureKind::MalformedReply,
                            format!("{action}: reply larger than {} bytes", self.max_bytes),
                        ));
                    }
                    bytes.extend_from_slice(&c);
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    return Err((
                        FailureKind::MalformedReply,
                        format!("{action}: reply body: {}", e.without_url()),
                    ));
                }
                Err(_) => {
                    return Err((
                        FailureKind::NoAnswer,
                        format!(
                            "{action}: reply incomplete after {} bytes at the deadline",
                            bytes.len()
                        ),
                    ));
                }
            }
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err((
                FailureKind::AuthFailed,
                format!(
                    "{action}: HTTP 401 (the device wants HTTP authentication or refused ours)"
                ),
            ));
        }
        let root = match xml::parse(&bytes) {
            Ok(r) => r,
            Err(e) if status.is_success() => {
                return Err((
                    FailureKind::MalformedReply,
                    format!("{action}: reply is not usable XML: {e}"),
                ));
            }
            Err(_) => return Err((FailureKind::HttpStatus, format!("{action}: HTTP {status}"))),
        };
        if let Some((code, reason)) = soap_fault(&root) {
            let kind = if code.ends_with("NotAuthorized")
                || reason.to_ascii_lowercase().contains("not authorized")
            {
                FailureKind::AuthFailed
            } else {
                FailureKind::SoapFault
            };
            return Err((kind, format!("{action}: SOAP fault {code}: {reason}")));
        }
        if !status.is_success() {
            return Err((FailureKind::HttpStatus, format!("{action}: HTTP {status}")));
        }
        root.find("Body").cloned().ok_or_else(|| {
            (
                FailureKind::MalformedReply,
                format!("{action}: no SOAP Body"),
            )
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn num(e: &Element, name: &str) -> Option<i64> {
    e.text_of(name)?.trim().parse().ok()
}

/// The camera's UTC clock from a GetSystemDateAndTime reply, as Unix seconds.
pub fn camera_time(body: &Element) -> Option<i64> {
    let utc = body.find("UTCDateTime")?;
    let date = utc.find("Date")?;
    let time = utc.find("Time")?;
    let (y, mo, d) = (num(date, "Year")?, num(date, "Month")?, num(date, "Day")?);
    let (h, mi, s) = (
        num(time, "Hour")?,
        num(time, "Minute")?,
        num(time, "Second")?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

pub async fn probe(client: &reqwest::Client, t: &OnvifTarget, opts: &OnvifOptions) -> ProbeOutcome {
    let started = Instant::now();
    let mut o = ProbeOutcome::up(ProbeKind::Onvif);
    if let Err((kind, detail)) = run(client, t, opts, started + opts.deadline, &mut o).await {
        let mut d = ProbeOutcome::down(ProbeKind::Onvif, kind, detail);
        d.steps = std::mem::take(&mut o.steps);
        d.facts = std::mem::take(&mut o.facts);
        o = d;
    }
    o.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    o
}

async fn run(
    client: &reqwest::Client,
    t: &OnvifTarget,
    opts: &OnvifOptions,
    deadline: Instant,
    o: &mut ProbeOutcome,
) -> Result<(), Failure> {
    let mut c = Call {
        client,
        creds: t.creds.as_ref(),
        deadline,
        max_bytes: opts.max_bytes,
        drift_sec: 0,
    };
    let step = |o: &mut ProbeOutcome, name: &str, since: Instant| {
        o.steps.push(StepTiming {
            step: name.into(),
            elapsed_ms: since.elapsed().as_secs_f64() * 1000.0,
        })
    };
    let dev = &t.device_url;

    // The clock first, unauthenticated (as the standard allows), to stamp tokens in its time.
    let t0 = Instant::now();
    let before = unix_now();
    let b = c
        .call(
            dev,
            &format!("{NS_DEVICE}/GetSystemDateAndTime"),
            "<tds:GetSystemDateAndTime/>",
            false,
        )
        .await?;
    step(o, "GetSystemDateAndTime", t0);
    let cam = camera_time(&b).ok_or((
        FailureKind::MalformedReply,
        "GetSystemDateAndTime: no valid UTCDateTime in the reply".to_string(),
    ))?;
    // Our clock at the midpoint of the exchange.
    let ours = before + (unix_now() - before) / 2;
    c.drift_sec = cam - ours;
    o.fact("clock_drift_sec", c.drift_sec);
    o.onvif.get_or_insert_default().clock_drift_sec = Some(c.drift_sec);

    let t0 = Instant::now();
    let b = c
        .call(
            dev,
            &format!("{NS_DEVICE}/GetDeviceInformation"),
            "<tds:GetDeviceInformation/>",
            true,
        )
        .await?;
    step(o, "GetDeviceInformation", t0);
    for (el, key) in [
        ("Manufacturer", "vendor"),
        ("Model", "model"),
        ("FirmwareVersion", "firmware"),
        ("SerialNumber", "serial"),
    ] {
        if let Some(v) = b.text_of(el).filter(|v| !v.is_empty()) {
            o.fact(key, v);
            let f = o.onvif.get_or_insert_default();
            let slot = match key {
                "vendor" => &mut f.vendor,
                "model" => &mut f.model,
                "firmware" => &mut f.firmware,
                _ => &mut f.serial,
            };
            *slot = Some(v.to_string());
        }
    }

    let t0 = Instant::now();
    let b = c
        .call(
            dev,
            &format!("{NS_DEVICE}/GetCapabilities"),
            "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>",
            true,
        )
        .await?;
    step(o, "GetCapabilities", t0);
    let media = b
        .find("Media")
        .and_then(|m| m.text_of("XAddr"))
        .and_then(|x| Url::parse(x).ok())
        .ok_or((
            FailureKind::MalformedReply,
            "GetCapabilities: no media service address (Media/XAddr)".to_string(),
        ))?;

    let t0 = Instant::now();
    let b = c
        .call(
            &media,
            &format!("{NS_MEDIA}/GetProfiles"),
            "<trt:GetProfiles/>",
            true,
        )
        .await?;
    step(o, "GetProfiles", t0);
    let mut profiles = Vec::new();
    b.find_all("Profiles", &mut profiles);
    o.fact("profiles", profiles.len());
    o.onvif.get_or_insert_default().profiles = Some(profiles.len());
    let token = profiles
        .first()
        .and_then(|p| p.attr("token"))
        .map(str::to_string)
        .ok_or((
            FailureKind::MalformedReply,
            "GetProfiles: no profile with a token".to_string(),
        ))?;
    if let Some(res) = profiles[0].find("Resolution")
        && let (Some(w), Some(h)) = (res.text_of("Width"), res.text_of("Height"))
    {
        o.fact("resolution", format!("{w}x{h}"));
        o.onvif.get_or_insert_default().resolution = Some(format!("{w}x{h}"));
    }

    let t0 = Instant::now();
    let body = format!(
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>\
         <tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>\
         <trt:ProfileToken>{}</trt:ProfileToken></trt:GetStreamUri>",
        escape(&token)
    );
    let b = c
        .call(&media, &format!("{NS_MEDIA}/GetStreamUri"), &body, true)
        .await?;
    step(o, "GetStreamUri", t0);
    let uri = b
        .find("MediaUri")
        .and_then(|m| m.text_of("Uri"))
        .unwrap_or("");
    if uri.is_empty() {
        return Err((
            FailureKind::MalformedReply,
            "GetStreamUri: no Uri in the reply".into(),
        ));
    }
    o.fact("stream_uri", uri);
    o.onvif.get_or_insert_default().stream_uri = Some(uri.to_string());

    let t0 = Instant::now();
    let body = format!(
        "<trt:GetSnapshotUri><trt:ProfileToken>{}</trt:ProfileToken></trt:GetSnapshotUri>",
        escape(&token)
    );
    match c
        .call(&media, &format!("{NS_MEDIA}/GetSnapshotUri"), &body, true)
        .await
    {
        Ok(b) => {
            step(o, "GetSnapshotUri", t0);
            if let Some(u) = b.find("MediaUri").and_then(|m| m.text_of("Uri")) {
                o.fact("snapshot_uri", u);
                o.onvif.get_or_insert_default().snapshot_uri = Some(u.to_string());
            }
        }
        // Snapshots are optional in ONVIF Profile S: a fault here is a fact, not a failure.
        Err((FailureKind::SoapFault, d)) => o.fact("snapshot_uri", format!("unsupported ({d})")),
        Err(e) => return Err(e),
    }
    o.detail = format!(
        "{} {} firmware {}, clock {:+} s",
        o.facts
            .iter()
            .find(|f| f.0 == "vendor")
            .map_or("?", |f| f.1.as_str()),
        o.facts
            .iter()
            .find(|f| f.0 == "model")
            .map_or("?", |f| f.1.as_str()),
        o.facts
            .iter()
            .find(|f| f.0 == "firmware")
            .map_or("?", |f| f.1.as_str()),
        c.drift_sec
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_580_881), "2026-11-25T04:28:01Z");
        for t in [0i64, 951_782_400, 1_709_164_800, 4_102_444_799] {
            let s = rfc3339(t);
            let (y, m, d) = (
                s[0..4].parse().unwrap(),
                s[5..7].parse().unwrap(),
                s[8..10].parse().unwrap(),
            );
            assert_eq!(
                days_from_civil(y, m, d) * 86_400 + t.rem_euclid(86_400),
                t,
                "{s}"
            );
        }
    }

    #[test]
    fn digest_matches_the_spec_example() {
        // WS-Security UsernameToken Profile 1.0 style check with a fixed nonce.
        let d = password_digest(b"0123456789abcdef", "2026-11-25T04:28:01Z", "pass");
        assert_eq!(d.len(), 28);
        assert_ne!(
            d,
            password_digest(b"0123456789abcdef", "2026-11-25T04:28:02Z", "pass")
        );
    }

    #[test]
    fn faults_are_read() {
        let x = br#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#;
        let root = xml::parse(x).unwrap();
        assert_eq!(
            soap_fault(&root),
            Some(("ter:NotAuthorized".into(), "Sender not Authorized".into()))
        );
    }
}
