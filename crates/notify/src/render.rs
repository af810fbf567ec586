//! Pure functions from a [`Notification`] (plus the target, the delivery id and the time) to
//! an HTTP request, one per target format, and from an answer to success or failure.
//!
//! - **webhook**: camwatch's JSON (`delivery_id` + the notification's fields), with
//!   `X-Camwatch-Timestamp` (Unix seconds), `X-Camwatch-Id` (the outbox id: the same on every
//!   retry, for receivers to de-duplicate) and `X-Camwatch-Signature: sha256=<hex>` over
//!   `timestamp + "." + body` with the target's secret. [`verify_webhook`] is the receiver's
//!   side, refusing stale timestamps so a captured request cannot be replayed later.
//! - **DingTalk custom robot**: markdown message; with a secret the URL gains
//!   `timestamp=<ms>&sign=<urlencode(base64(HmacSHA256(secret, timestamp + "\n" + secret)))>`.
//!   DingTalk answers HTTP 200 with `{"errcode":…}` even when it refuses: only `errcode` 0 is
//!   success.
//! - **WeCom group robot**: markdown message, content cut to 4,096 bytes on a character
//!   boundary; the same `errcode` rule.
//! - **http_template**: the configured method, URL, headers and body with `{placeholders}`,
//!   values escaped for where they land (JSON string, form value, URL, header).
//!
//! Nothing here does I/O or reads a clock: `deliver` passes the time in.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{Escape, Format, HttpMethod, Target, TargetKind, Template};
use crate::message::Notification;

/// An HTTP request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// WeCom's limit on a markdown message's content, in bytes.
pub const WECOM_MAX_BYTES: usize = 4096;

pub const HEADER_TIMESTAMP: &str = "X-Camwatch-Timestamp";
pub const HEADER_ID: &str = "X-Camwatch-Id";
pub const HEADER_SIGNATURE: &str = "X-Camwatch-Signature";

/// The request delivering outbox row `id` (notification `n`) to `target` at `now`.
pub fn render(target: &Target, id: i64, n: &Notification, now: jiff::Timestamp) -> HttpRequest {
    let secret = target.secret.as_ref().map(|s| s.expose());
    match &target.format {
        Format::Webhook => webhook(
            &target.url,
            secret.unwrap_or_default(),
            id,
            n,
            now.as_second(),
        ),
        Format::Dingtalk { at_mobiles, at_all } => dingtalk(
            &target.url,
            secret,
            at_mobiles,
            *at_all,
            n,
            now.as_millisecond(),
        ),
        Format::Wecom => wecom(&target.url, n),
        Format::HttpTemplate(t) => template(t, secret, id, n),
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    for p in parts {
        mac.update(p);
    }
    mac
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    delivery_id: i64,
    #[serde(flatten)]
    notification: &'a Notification,
}

/// camwatch's signed JSON webhook.
pub fn webhook(url: &str, secret: &str, id: i64, n: &Notification, now_sec: i64) -> HttpRequest {
    let body = serde_json::to_vec(&WebhookBody {
        delivery_id: id,
        notification: n,
    })
    .expect("a notification always serializes");
    HttpRequest {
        method: HttpMethod::Post,
        url: url.to_string(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (HEADER_TIMESTAMP.into(), now_sec.to_string()),
            (HEADER_ID.into(), id.to_string()),
            (
                HEADER_SIGNATURE.into(),
                webhook_signature(secret, now_sec, &body),
            ),
        ],
        body,
    }
}

/// Header lookup for [`verify_webhook`], case-insensitive.
pub trait HeaderSource {
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderSource for reqwest::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl HeaderSource for [(String, String)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    MissingHeader(&'static str),
    Malformed(&'static str),
    /// The timestamp is further than the tolerance from now: a replay, or a wrong clock.
    Stale {
        age_sec: i64,
    },
    BadSignature,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingHeader(h) => write!(f, "header {h} is missing"),
            Self::Malformed(h) => write!(f, "header {h} is malformed"),
            Self::Stale { age_sec } => write!(
                f,
                "timestamp is {age_sec} s from now, outside the tolerance (replayed?)"
            ),
            Self::BadSignature => f.write_str("signature does not match"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The receiver's check of a camwatch webhook: a signature by `secret` over the timestamp
/// and the body, and a timestamp within `tolerance_sec` of `now_sec` (either way). Returns
/// the delivery id (`X-Camwatch-Id`), which the receiver should de-duplicate on: a crash
/// between sending and recording the delivery sends the same id again.
pub fn verify_webhook(
    secret: &str,
    headers: &(impl HeaderSource + ?Sized),
    body: &[u8],
    now_sec: i64,
    tolerance_sec: i64,
) -> Result<i64, VerifyError> {
    let get = |h: &'static str| headers.header(h).ok_or(VerifyError::MissingHeader(h));
    let ts: i64 = get(HEADER_TIMESTAMP)?
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed(HEADER_TIMESTAMP))?;
    let id: i64 = get(HEADER_ID)?
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed(HEADER_ID))?;
    let sig = get(HEADER_SIGNATURE)?
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(VerifyError::Malformed(HEADER_SIGNATURE))?;
    let age_sec = now_sec.saturating_sub(ts);
    if age_sec.abs() > tolerance_sec {
        return Err(VerifyError::Stale { age_sec });
    }
    let ts = ts.to_string();
    hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body])
        .verify_slice(&sig)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(id)
}

/// DingTalk's `sign`, before URL encoding: base64(HmacSHA256(key = secret, message =
/// `timestamp_ms + "\n" + secret`)).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let msg = format!("{timestamp_ms}\n{secret}");
    let mac = hmac(secret.as_bytes(), &[msg.as_bytes()]);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A DingTalk custom-robot markdown message; signed (`timestamp`, `sign` appended to the
/// URL) when the robot has a secret (its 加签 security setting).
pub fn dingtalk(
    url: &str,
    secret: Option<&str>,
    at_mobiles: &[String],
    at_all: bool,
    n: &Notification,
    now_ms: i64,
) -> HttpRequest {
    let mut url = url.to_string();
    if let Some(secret) = secret {
        let sign: String =
            url::form_urlencoded::byte_serialize(dingtalk_sign(secret, now_ms).as_bytes())
                .collect();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("timestamp={now_ms}&sign={sign}"));
    }
    let mut text = markdown_zh(n);
    // DingTalk highlights an @ only when the number also appears in the text.
    if !at_mobiles.is_empty() {
        text.push_str("\n\n");
        let ats: Vec<String> = at_mobiles.iter().map(|m| format!("@{m}")).collect();
        text.push_str(&ats.join(" "));
    }
    let body = serde_json::json!({
        "msgtype": "markdown",
        "markdown": { "title": title_zh(n), "text": text },
        "at": { "atMobiles": at_mobiles, "isAtAll": at_all },
    });
    json_request(url, &body)
}

/// A WeCom group-robot markdown message, its content cut to [`WECOM_MAX_BYTES`].
pub fn wecom(url: &str, n: &Notification) -> HttpRequest {
    let text = markdown_zh(n);
    let body = serde_json::json!({
        "msgtype": "markdown",
        "markdown": { "content": truncate_utf8(&text, WECOM_MAX_BYTES) },
    });
    json_request(url.to_string(), &body)
}

fn json_request(url: String, body: &serde_json::Value) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        url,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(body).expect("JSON values serialize"),
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The chat title: `【kind】title`.
pub fn title_zh(n: &Notification) -> String {
    format!("【{}】{}", n.kind.label_zh(), n.title)
}

/// The chat message body, in markdown both robots render.
pub fn markdown_zh(n: &Notification) -> String {
    let mut lines = vec![format!("### {}", title_zh(n))];
    let mut item = |k: &str, v: String| {
        if !v.is_empty() {
            lines.push(format!("- {k}：{v}"));
        }
    };
    let opt = |v: Option<&str>| v.unwrap_or("").to_string();
    if let Some(d) = &n.digest {
        item("运维单位", opt(n.contractor.as_deref()));
        item(
            "未关闭",
            format!(
                "{} 单（超时 {}，待审核 {}）",
                d.open, d.overdue, d.awaiting_review
            ),
        );
        item("上次汇总以来关闭", format!("{} 单", d.closed));
        item("时间", n.local_time(n.at));
        for o in &d.orders {
            let due = o
                .due_at
                .map(|t| format!("，期限 {}", n.local_time(t)))
                .unwrap_or_default();
            let late = if o.overdue { "，**已超时**" } else { "" };
            lines.push(format!(
                "- #{} {}（{}{due}{late}）",
                o.order_id, o.title, o.state
            ));
        }
        return lines.join("\n");
    }
    item(
        "工单",
        n.order_id.map(|i| format!("#{i}")).unwrap_or_default(),
    );
    item("级别", n.level.clone());
    item(
        "运维单位",
        n.contractor.clone().unwrap_or_else(|| "未分配".into()),
    );
    item("区域", n.region.clone());
    item("设备", n.devices_text());
    item("原因", opt(n.cause.as_deref()));
    item(
        "响应期限",
        n.response_due_at
            .map(|t| n.local_time(t))
            .unwrap_or_default(),
    );
    item(
        "修复期限",
        n.repair_due_at.map(|t| n.local_time(t)).unwrap_or_default(),
    );
    item("时间", n.local_time(n.at));
    lines.join("\n")
}

/// The value of template placeholder `name` (see `config::PLACEHOLDERS`).
pub fn template_value(name: &str, id: i64, n: &Notification, secret: Option<&str>) -> String {
    let time = |t: Option<i64>| t.map(|t| n.local_time(t)).unwrap_or_default();
    match name {
        "delivery_id" => id.to_string(),
        "kind" => n.kind.as_str().to_string(),
        "kind_zh" => n.kind.label_zh().to_string(),
        "order_id" => n.order_id.map(|i| i.to_string()).unwrap_or_default(),
        "title" => n.title.clone(),
        "level" => n.level.clone(),
        "contractor" => n.contractor.clone().unwrap_or_default(),
        "region" => n.region.clone(),
        "devices" => n.devices_text(),
        "device_count" => n.device_count.to_string(),
        "cause" => n.cause.clone().unwrap_or_default(),
        "at" => n.local_time(n.at),
        "response_due_at" => time(n.response_due_at),
        "repair_due_at" => time(n.repair_due_at),
        "summary" if n.summary.is_empty() => n.summary_zh(),
        "summary" => n.summary.clone(),
        "secret" => secret.unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

/// `v` escaped for `escape`: inside a JSON string, as a form value, or as is.
pub fn escape_value(v: &str, escape: Escape) -> String {
    match escape {
        Escape::Json => {
            let quoted = serde_json::to_string(v).expect("strings serialize");
            quoted[1..quoted.len() - 1].to_string()
        }
        Escape::Form => url::form_urlencoded::byte_serialize(v.as_bytes()).collect(),
        Escape::Raw => v.to_string(),
    }
}

/// An `http_template` request.
pub fn template(t: &Template, secret: Option<&str>, id: i64, n: &Notification) -> HttpRequest {
    let value = |name: &str| template_value(name, id, n, secret);
    // Percent-encoded, with spaces as %20 so a value is safe in a path as well as a query.
    let url = t.url.fill(value, |v| {
        url::form_urlencoded::byte_serialize(v.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    });
    let headers = t
        .headers
        .iter()
        .map(|(k, p)| {
            // No CR/LF from a value can start a header of its own.
            let v = p.fill(value, |v| v.replace(['\r', '\n'], " "));
            (k.clone(), v)
        })
        .collect();
    let body = t
        .body
        .as_ref()
        .map(|b| b.fill(value, |v| escape_value(v, t.escape)).into_bytes())
        .unwrap_or_default();
    HttpRequest {
        method: t.method,
        url,
        headers,
        body,
    }
}

/// Whether an answer means delivered: a 2xx status, and for the robots a JSON body with
/// `errcode` 0. `truncated`: the body was longer than the cap and only its start is here.
/// The error text is for the outbox's `last_error` and the log.
pub fn judge(kind: TargetKind, status: u16, body: &[u8], truncated: bool) -> Result<(), String> {
    let snippet = || {
        let s = String::from_utf8_lossy(truncate_utf8_bytes(body, 200)).into_owned();
        if s.is_empty() { s } else { format!(": {s}") }
    };
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}{}", snippet()));
    }
    match kind {
        TargetKind::Webhook | TargetKind::HttpTemplate => Ok(()),
        TargetKind::Dingtalk | TargetKind::Wecom => {
            if truncated {
                return Err(format!(
                    "HTTP {status} with an answer too long for a robot's ({} bytes read)",
                    body.len()
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
                format!("HTTP {status}, answer is not the robot's JSON{}", snippet())
            })?;
            match v.get("errcode").and_then(|c| c.as_i64()) {
                Some(0) => Ok(()),
                Some(code) => Err(format!(
                    "HTTP {status}, errcode {code}: {}",
                    v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
                )),
                None => Err(format!("HTTP {status}, answer has no errcode{}", snippet())),
            }
        }
    }
}

fn truncate_utf8_bytes(b: &[u8], max: usize) -> &[u8] {
    match std::str::from_utf8(b) {
        Ok(s) => truncate_utf8(s, max).as_bytes(),
        Err(_) => &b[..b.len().min(max)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Pattern, Target};
    use crate::message::{DeviceRef, NotificationKind};
    use camwatch_core::secret::Password;
    use serde_json::json;

    /// 2025-10-02 10:00 in Asia/Shanghai.
    const AT: i64 = 1_759_370_400;

    fn opened() -> Notification {
        let mut n = Notification::for_order(
            NotificationKind::Opened,
            42,
            "城东路口 离线",
            "一级",
            "340202",
            AT,
        )
        .with_devices([DeviceRef {
            code: "34020000001320000001".into(),
            name: "城东路口".into(),
        }]);
        n.contractor = Some("甲公司".into());
        n.cause = Some("连接被拒绝".into());
        n.response_due_at = Some(AT + 1800);
        n.repair_due_at = Some(AT + 4 * 3600);
        n
    }

    /// The documented formula computed elsewhere (Python's hmac, hashlib, base64 and
    /// urllib.parse.quote_plus), for this secret and timestamp.
    #[test]
    fn dingtalk_sign_matches_the_documented_formula() {
        let secret = "SECe1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
        let ts = 1_759_370_400_000;
        assert_eq!(
            dingtalk_sign(secret, ts),
            "wSehcY80TFeKU82QyBam+Flv3IuJ0QxVhAPwfSotLR4="
        );
        let req = dingtalk(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some(secret),
            &[],
            false,
            &opened(),
            ts,
        );
        assert_eq!(
            req.url,
            "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1759370400000\
             &sign=wSehcY80TFeKU82QyBam%2BFlv3IuJ0QxVhAPwfSotLR4%3D"
        );
    }

    /// The custom robot's markdown message: msgtype, markdown.title/text, at.atMobiles/isAtAll.
    #[test]
    fn dingtalk_markdown_has_the_documented_shape() {
        let req = dingtalk(
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            None,
            &["13800000000".into()],
            false,
            &opened(),
            0,
        );
        assert_eq!(
            req.url,
            "https://oapi.dingtalk.com/robot/send?access_token=abc"
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(
            req.headers,
            [("Content-Type".to_string(), "application/json".to_string())]
        );
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let text = markdown_zh(&opened()) + "\n\n@13800000000";
        assert_eq!(
            v,
            json!({
                "msgtype": "markdown",
                "markdown": { "title": "【新工单】城东路口 离线", "text": text },
                "at": { "atMobiles": ["13800000000"], "isAtAll": false },
            })
        );
        assert_eq!(
            markdown_zh(&opened()),
            "### 【新工单】城东路口 离线\n- 工单：#42\n- 级别：一级\n- 运维单位：甲公司\n\
             - 区域：340202\n- 设备：城东路口（34020000001320000001）\n- 原因：连接被拒绝\n\
             - 响应期限：2025-10-02 10:30\n- 修复期限：2025-10-02 14:00\n- 时间：2025-10-02 10:00"
        );
    }

    #[test]
    fn wecom_markdown_has_the_documented_shape() {
        let req = wecom(
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            &opened(),
        );
        assert_eq!(
            req.url,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"
        );
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            v,
            json!({ "msgtype": "markdown", "markdown": { "content": markdown_zh(&opened()) } })
        );
    }

    /// A long order (many devices with long names) is cut to 4,096 bytes without splitting
    /// a character: every byte count from 4,093 to 4,096 lands inside a 3-byte character for
    /// some prefix, so the cut must step back.
    #[test]
    fn wecom_content_is_cut_to_4096_bytes_on_a_character_boundary() {
        for pad in 0..3 {
            let mut n = opened();
            n.title = format!("{}{}", "a".repeat(pad), "摄像机".repeat(2000));
            let req = wecom("https://q/?key=k", &n);
            let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let content = v["markdown"]["content"].as_str().unwrap();
            assert!(content.len() <= WECOM_MAX_BYTES && content.len() > WECOM_MAX_BYTES - 3);
            assert!(markdown_zh(&n).starts_with(content));
        }
        assert_eq!(truncate_utf8("ab故障", 4), "ab");
        assert_eq!(truncate_utf8("ab故障", 5), "ab故");
        assert_eq!(truncate_utf8("ab", 4), "ab");
    }

    #[test]
    fn webhook_is_signed_over_timestamp_and_body() {
        // Python: hmac.new(b"hook-secret", b"1759370400." + b'{"a":1}', sha256).hexdigest()
        assert_eq!(
            webhook_signature("hook-secret", AT, br#"{"a":1}"#),
            "sha256=11ed523e61cf0cb9c20bd8be834ac7443003685f192f179f1e471924640777a3"
        );
        let req = webhook("https://ops/hook", "hook-secret", 7, &opened(), AT);
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(v["delivery_id"], 7);
        assert_eq!(v["order_id"], 42);
        assert_eq!(v["kind"], "opened");
        assert_eq!(req.headers.header("x-camwatch-id"), Some("7"));
        assert_eq!(
            verify_webhook("hook-secret", &req.headers, &req.body, AT + 5, 300),
            Ok(7)
        );
        // Replayed later, a wrong secret, a changed body:
        assert_eq!(
            verify_webhook("hook-secret", &req.headers, &req.body, AT + 301, 300),
            Err(VerifyError::Stale { age_sec: 301 })
        );
        assert_eq!(
            verify_webhook("other", &req.headers, &req.body, AT, 300),
            Err(VerifyError::BadSignature)
        );
        let mut body = req.body.clone();
        body[10] ^= 1;
        assert_eq!(
            verify_webhook("hook-secret", &req.headers, &body, AT, 300),
            Err(VerifyError::BadSignature)
        );
        // The timestamp is signed too: moving it forward breaks the signature.
        let mut h = req.headers.clone();
        h[1].1 = (AT + 100).to_string();
        assert_eq!(
            verify_webhook("hook-secret", &h, &req.body, AT + 100, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_webhook("hook-secret", &h[..3], &req.body, AT, 300),
            Err(VerifyError::MissingHeader(HEADER_SIGNATURE))
        );
    }

    fn json_template(body: &str) -> Template {
        Template {
            method: HttpMethod::Post,
            url: Pattern::parse("https://sms.example.com/send/{contractor}?t={title}").unwrap(),
            headers: vec![("X-Title".into(), Pattern::parse("{title}").unwrap())],
            body: Some(Pattern::parse(body).unwrap()),
            escape: Escape::Json,
        }
    }

    /// Quotes, a newline and braces in a value cannot break the JSON body, the URL or a
    /// header.
    #[test]
    fn template_values_are_escaped_for_where_they_land() {
        let mut n = opened();
        n.title = "a \"quoted\"\nline {summary} \\ end".into();
        n.contractor = Some("甲 公司/1".into());
        let t = json_template(r#"{{"to": "138", "text": "{title}", "id": {delivery_id}}}"#);
        let req = template(&t, None, 9, &n);
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(v["text"], n.title.as_str());
        assert_eq!(v["id"], 9);
        assert_eq!(
            req.url,
            "https://sms.example.com/send/%E7%94%B2%20%E5%85%AC%E5%8F%B8%2F1?t=a%20%22quoted%22%0Aline%20%7Bsummary%7D%20%5C%20end"
        );
        assert_eq!(
            req.headers,
            [(
                "X-Title".to_string(),
                "a \"quoted\" line {summary} \\ end".to_string()
            )]
        );
        // Form bodies are form-encoded.
        let mut t = json_template("msg={title}&key={secret}");
        t.escape = Escape::Form;
        let req = template(&t, Some("s&=1"), 9, &n);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        assert_eq!(
            pairs,
            [
                ("msg".to_string(), n.title.clone()),
                ("key".to_string(), "s&=1".to_string())
            ]
        );
    }

    #[test]
    fn robots_fail_on_a_nonzero_errcode_even_with_http_200() {
        let dt = TargetKind::Dingtalk;
        assert_eq!(
            judge(dt, 200, br#"{"errcode":0,"errmsg":"ok"}"#, false),
            Ok(())
        );
        assert_eq!(
            judge(
                dt,
                200,
                r#"{"errcode":310000,"errmsg":"sign not match"}"#.as_bytes(),
                false
            ),
            Err("HTTP 200, errcode 310000: sign not match".into())
        );
        assert_eq!(
            judge(
                TargetKind::Wecom,
                200,
                br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
                false
            ),
            Err("HTTP 200, errcode 93000: invalid webhook url".into())
        );
        assert!(judge(TargetKind::Wecom, 200, b"<html>", false).is_err());
        assert!(judge(TargetKind::Wecom, 200, br#"{"errcode":0}"#, true).is_err());
        assert_eq!(judge(TargetKind::Webhook, 204, b"", false), Ok(()));
        assert_eq!(
            judge(TargetKind::Webhook, 503, b"busy", false),
            Err("HTTP 503: busy".into())
        );
        // A huge 2xx answer to a webhook is cut, not a failure.
        assert_eq!(judge(TargetKind::HttpTemplate, 200, b"x", true), Ok(()));
    }

    /// A DingTalk robot secured by keyword accepts only messages containing it: "工单" is
    /// in every message's markdown (docs/work-orders.md says to use it).
    #[test]
    fn every_message_carries_the_keyword_for_robots() {
        use strum::VariantArray;
        for kind in NotificationKind::VARIANTS {
            let mut n = opened();
            n.kind = *kind;
            assert!(markdown_zh(&n).contains("工单"), "{kind:?}");
        }
        let digest = Notification::digest("甲公司", Default::default(), AT);
        assert!(markdown_zh(&digest).contains("工单"));
    }

    #[test]
    fn render_picks_the_target_format_and_secret() {
        let t = Target {
            name: "hook".into(),
            url: "https://ops/hook".into(),
            secret: Some(Password::new("hook-secret")),
            kinds: vec![],
            contractors: vec![],
            format: Format::Webhook,
        };
        let now = jiff::Timestamp::from_second(AT).unwrap();
        let req = render(&t, 3, &opened(), now);
        assert_eq!(
            verify_webhook("hook-secret", &req.headers, &req.body, AT, 1),
            Ok(3)
        );
    }
}
