//! The simulator's ONVIF device (SOAP 1.2 over its HTTP port): device service
//! GetSystemDateAndTime, GetDeviceInformation, GetCapabilities, GetServices; media service
//! GetProfiles, GetStreamUri, GetSnapshotUri. WS-UsernameToken PasswordDigest is required for
//! all but GetSystemDateAndTime; a bad token, or one stamped more than 5 minutes from the
//! camera's clock, gets the standard `ter:NotAuthorized` fault.
//!
//! The camera's clock is the real wall clock (plus any `clock_drift` fault), not the scaled
//! simulation clock: a camera's NTP time does not run 60× because the schedule does.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use camwatch_probes::onvif::xml::{self, Element};
use camwatch_probes::onvif::{days_from_civil, password_digest};

const NS: &str = "xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" \
    xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" \
    xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\" \
    xmlns:tt=\"http://www.onvif.org/ver10/schema\" \
    xmlns:ter=\"http://www.onvif.org/ver10/error\"";

/// What the camera is, for the replies.
pub struct Camera<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub vendor: &'a str,
    pub model: &'a str,
    pub serial: &'a str,
    /// `http://ip:port` of this host.
    pub http_base: String,
    /// `rtsp://ip:port` of this host.
    pub rtsp_base: String,
    pub drift_sec: i64,
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope {NS}><env:Body>{body}</env:Body></env:Envelope>"
    )
}

fn fault(code: &str, sub: &str, reason: &str) -> (&'static str, String) {
    let status = if code == "env:Sender" {
        "400 Bad Request"
    } else {
        "500 Internal Server Error"
    };
    (
        status,
        envelope(&format!(
            "<env:Fault><env:Code><env:Value>{code}</env:Value><env:Subcode><env:Value>{sub}</env:Value>\
             </env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{reason}</env:Text></env:Reason></env:Fault>"
        )),
    )
}

/// `2026-11-25T04:28:01Z`, with fractional seconds, or with an offset (`+00:00`, `+08:00`)
/// → Unix seconds.
fn parse_created(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, sec) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let mut rest = &s[19..];
    if let Some(f) = rest.strip_prefix('.') {
        rest = f.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

fn authorized(env: &Element, cam: &Camera<'_>, now: i64) -> bool {
    let Some(tok) = env.find("UsernameToken") else {
        return false;
    };
    let (Some(user), Some(pw), Some(nonce), Some(created)) = (
        tok.text_of("Username"),
        tok.find("Password"),
        tok.text_of("Nonce"),
        tok.text_of("Created"),
    ) else {
        return false;
    };
    let Ok(nonce) = base64::engine::general_purpose::STANDARD.decode(nonce) else {
        return false;
    };
    let fresh = parse_created(created).is_some_and(|c| (c - now).abs() <= 300);
    user == cam.username && fresh && pw.text == password_digest(&nonce, created, cam.password)
}

/// Answers one SOAP request: (HTTP status, body).
pub fn handle(path: &str, body: &[u8], cam: &Camera<'_>) -> (&'static str, String) {
    let env = match xml::parse(body) {
        Ok(e) => e,
        Err(e) => {
            return fault(
                "env:Sender",
                "ter:WellFormed",
                &format!("not well-formed: {e}"),
            );
        }
    };
    let Some(action) = env
        .find("Body")
        .and_then(|b| b.children.first())
        .map(|a| a.name.clone())
    else {
        return fault(
            "env:Sender",
            "ter:InvalidArgVal",
            "no operation in the SOAP Body",
        );
    };
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let now = wall + cam.drift_sec;
    if action != "GetSystemDateAndTime" && !authorized(&env, cam, now) {
        return fault("env:Sender", "ter:NotAuthorized", "Sender not Authorized");
    }
    let media = path.ends_with("media_service");
    let reply = match (media, action.as_str()) {
        (false, "GetSystemDateAndTime") => {
            let t = camwatch_probes::onvif::rfc3339(now);
            let f = |r: std::ops::Range<usize>| t[r].trim_start_matches('0').to_string();
            let z = |s: String| if s.is_empty() { "0".to_string() } else { s };
            format!(
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>\
                 <tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>\
                 <tt:UTCDateTime><tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time>\
                 <tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date></tt:UTCDateTime>\
                 </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>",
                z(f(11..13)),
                z(f(14..16)),
                z(f(17..19)),
                &t[0..4],
                z(f(5..7)),
                z(f(8..10))
            )
        }
        (false, "GetDeviceInformation") => format!(
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>{}</tds:Manufacturer><tds:Model>{}</tds:Model>\
             <tds:FirmwareVersion>V5.7.3 build 230815</tds:FirmwareVersion><tds:SerialNumber>{}</tds:SerialNumber>\
             <tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>",
            cam.vendor, cam.model, cam.serial
        ),
        (false, "GetCapabilities") => format!(
            "<tds:GetCapabilitiesResponse><tds:Capabilities>\
             <tt:Device><tt:XAddr>{0}/onvif/device_service</tt:XAddr></tt:Device>\
             <tt:Media><tt:XAddr>{0}/onvif/media_service</tt:XAddr><tt:StreamingCapabilities>\
             <tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>\
             </tt:StreamingCapabilities></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>",
            cam.http_base
        ),
        (false, "GetServices") => format!(
            "<tds:GetServicesResponse>\
             <tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>{0}/onvif/device_service</tds:XAddr>\
             <tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>\
             <tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>{0}/onvif/media_service</tds:XAddr>\
             <tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>\
             </tds:GetServicesResponse>",
            cam.http_base
        ),
        (true, "GetProfiles") => {
            let p = |token: &str, name: &str, w: u32, h: u32| {
                format!(
                    "<trt:Profiles token=\"{token}\" fixed=\"true\"><tt:Name>{name}</tt:Name>\
                     <tt:VideoEncoderConfiguration token=\"VE_{token}\"><tt:Name>{name}</tt:Name><tt:UseCount>1</tt:UseCount>\
                     <tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution>\
                     <tt:Quality>4</tt:Quality></tt:VideoEncoderConfiguration></trt:Profiles>"
                )
            };
            format!(
                "<trt:GetProfilesResponse>{}{}</trt:GetProfilesResponse>",
                p("Profile_1", "mainStream", 320, 240),
                p("Profile_2", "subStream", 320, 240)
            )
        }
        (true, "GetStreamUri") | (true, "GetSnapshotUri") => {
            let token = env.text_of("ProfileToken").unwrap_or("");
            let stream = match token {
                "Profile_1" => 101,
                "Profile_2" => 102,
                _ => return fault("env:Sender", "ter:InvalidArgVal", "ter:NoProfile"),
            };
            let uri = if action == "GetStreamUri" {
                format!("{}/Streaming/Channels/{stream}", cam.rtsp_base)
            } else {
                format!("{}/ISAPI/Streaming/channels/101/picture", cam.http_base)
            };
            format!(
                "<trt:{action}Response><trt:MediaUri><tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>\
                 <tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:{action}Response>"
            )
        }
        _ => {
            return fault(
                "env:Receiver",
                "ter:ActionNotSupported",
                &format!("{action} is not supported by this device"),
            );
        }
    };
    ("200 OK", envelope(&reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_parses() {
        assert_eq!(parse_created("1970-01-01T00:00:10Z"), Some(10));
        assert_eq!(
            parse_created("2026-11-25T04:28:01.123Z"),
            Some(1_795_580_881)
        );
        assert_eq!(
            parse_created("2026-11-25T04:28:01+00:00"),
            Some(1_795_580_881)
        );
        assert_eq!(
            parse_created("2026-11-25T12:28:01.5+08:00"),
            Some(1_795_580_881)
        );
        assert_eq!(parse_created("2026-11-25 04:28:01"), None);
        assert_eq!(parse_created("2026-11-25T04:28:01"), None);
    }
}
