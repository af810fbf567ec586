//! `[notify]` in `camwatch.toml`: where notifications go.
//!
//! ```toml
//! [[notify.targets]]
//! name = "ops-webhook"
//! kind = "webhook"                 # webhook | dingtalk | wecom | http_template
//! url = "https://ops.example.com/camwatch"
//! secret_env = "CAMWATCH_OPS_WEBHOOK_SECRET"   # or secret_file = "…", or secret = "…"
//! kinds = ["opened", "repair_overdue"]         # empty: every kind
//! contractors = ["甲公司"]                     # empty: every contractor
//! ```
//!
//! [`NotifyConfig`] is the file's form (serde, embeddable in the root `Config`);
//! [`NotifyConfig::resolve`] checks it and turns it into [`Target`]s, reading secrets from
//! their files or environment variables, with errors that name the target and the field.
//! Secrets never print: `Debug` shows `***`, and an inline `secret` is not serialized back
//! out (a dumped config must not leak it). This module sends nothing.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use camwatch_core::error::{Error, Result};
use camwatch_core::secret::Password;

use crate::message::{Notification, NotificationKind};

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub targets: Vec<TargetConfig>,
    /// Deadline of one delivery: connect, send, and read the answer.
    pub timeout_ms: u64,
    /// How often the worker looks for due messages when nobody wakes it.
    pub poll_interval_sec: u64,
    /// Deliveries in flight at once, all targets.
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one target, so a slow one cannot take every slot.
    pub max_per_target: usize,
    /// The most of an answer read; a longer one is cut (and fails where the body matters).
    pub max_response_bytes: usize,
    /// Local time (contract's zone) of the daily digest per contractor, `HH:MM`; empty: none.
    pub digest_at: String,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            timeout_ms: 10_000,
            poll_interval_sec: 10,
            max_in_flight: 16,
            max_per_target: 4,
            max_response_bytes: 64 * 1024,
            digest_at: "08:30".into(),
        }
    }
}

/// The message format of a target.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TargetKind {
    /// camwatch's own JSON, HMAC-SHA256 signed (`render::webhook`).
    Webhook,
    /// A DingTalk custom robot (自定义机器人), signed URL when a secret is set.
    Dingtalk,
    /// A WeCom group robot (群机器人); its `key` is in the URL.
    Wecom,
    /// Any HTTP API (an SMS gateway): method, headers and body from templates.
    HttpTemplate,
}

/// HTTP methods a template may use.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
pub enum HttpMethod {
    #[serde(alias = "get")]
    Get,
    #[default]
    #[serde(alias = "post")]
    Post,
    #[serde(alias = "put")]
    Put,
}

/// `[[notify.targets]]` as written.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// Unique; stored in each outbox row, so renaming a target orphans its pending rows.
    pub name: String,
    pub kind: Option<TargetKind>,
    pub url: String,
    /// Inline secret. Prefer `secret_file` or `secret_env`: the config file is often shared.
    #[serde(skip_serializing)]
    pub secret: Option<String>,
    /// A file holding the secret (trailing whitespace trimmed).
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    pub secret_env: Option<String>,
    /// Notification kinds sent to this target; empty: all.
    pub kinds: Vec<NotificationKind>,
    /// Only orders (and digests) of these contractors; empty: all.
    pub contractors: Vec<String>,
    /// DingTalk: mobile numbers to @ in each message.
    pub at_mobiles: Vec<String>,
    /// DingTalk: @ everyone.
    pub at_all: bool,
    /// http_template: the method (default POST).
    pub method: Option<HttpMethod>,
    /// http_template: headers, values may hold placeholders. `Content-Type` decides how
    /// values are escaped in the body.
    pub headers: BTreeMap<String, String>,
    /// http_template: the body, with `{placeholders}` (`{{`/`}}` for literal braces).
    pub body: Option<String>,
}

impl std::fmt::Debug for TargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &redact_url(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("secret_file", &self.secret_file)
            .field("secret_env", &self.secret_env)
            .field("kinds", &self.kinds)
            .field("contractors", &self.contractors)
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A URL with its query values hidden: DingTalk's `access_token` and WeCom's `key` are
/// credentials.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        None => url.to_string(),
        Some((base, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}=***"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", q.join("&"))
        }
    }
}

/// A checked target, ready to render for. `Debug` hides the secret and the URL's query.
#[derive(Clone)]
pub struct Target {
    pub name: String,
    /// Webhook, DingTalk and WeCom: the URL (for a template, see [`Template::url`]).
    pub url: String,
    pub secret: Option<Password>,
    pub kinds: Vec<NotificationKind>,
    pub contractors: Vec<String>,
    pub format: Format,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.format.kind())
            .field("url", &redact_url(&self.url))
            .field("secret", &self.secret)
            .field("kinds", &self.kinds)
            .field("contractors", &self.contractors)
            .finish_non_exhaustive()
    }
}

/// How a target's messages are shaped.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    Webhook,
    Dingtalk {
        at_mobiles: Vec<String>,
        at_all: bool,
    },
    Wecom,
    HttpTemplate(Template),
}

impl Format {
    pub fn kind(&self) -> TargetKind {
        match self {
            Self::Webhook => TargetKind::Webhook,
            Self::Dingtalk { .. } => TargetKind::Dingtalk,
            Self::Wecom => TargetKind::Wecom,
            Self::HttpTemplate(_) => TargetKind::HttpTemplate,
        }
    }
}

/// How placeholder values are escaped in a template body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Escape {
    /// Inside a JSON string: `"`, `\` and control characters escaped.
    Json,
    /// `application/x-www-form-urlencoded` values.
    Form,
    /// As is (`text/plain`).
    Raw,
}

/// A parsed `{placeholder}` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub(crate) Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Var(&'static str),
}

/// The placeholders a template may use (see `render::template_values`).
pub const PLACEHOLDERS: &[&str] = &[
    "delivery_id",
    "kind",
    "kind_zh",
    "order_id",
    "title",
    "level",
    "contractor",
    "region",
    "devices",
    "device_count",
    "cause",
    "at",
    "response_due_at",
    "repair_due_at",
    "summary",
    "secret",
];

impl Pattern {
    /// Parses `{name}` placeholders (`{{` and `}}` are literal braces).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed `{{{name}`")),
                        }
                    }
                    let Some(var) = PLACEHOLDERS.iter().find(|p| **p == name) else {
                        return Err(format!(
                            "unknown placeholder {{{name}}}; known: {}",
                            PLACEHOLDERS.join(", ")
                        ));
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Var(var));
                }
                '}' => return Err("a lone `}` (write `}}` for a literal brace)".into()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self(pieces))
    }

    /// The text with each placeholder replaced by `value(name)`, escaped by `escape`. Values
    /// are inserted once, never re-read as template text.
    pub fn fill(&self, value: impl Fn(&str) -> String, escape: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => out.push_str(&escape(&value(v))),
            }
        }
        out
    }
}

/// An `http_template` target's request.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub method: HttpMethod,
    /// Placeholder values are percent-encoded here.
    pub url: Pattern,
    /// Header values are inserted as is (control characters removed).
    pub headers: Vec<(String, Pattern)>,
    pub body: Option<Pattern>,
    pub escape: Escape,
}

impl Target {
    /// Whether this target wants `n` (its `kinds` and `contractors` filters).
    pub fn accepts(&self, n: &Notification) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&n.kind))
            && (self.contractors.is_empty()
                || n.contractor
                    .as_ref()
                    .is_some_and(|c| self.contractors.contains(c)))
    }
}

impl NotifyConfig {
    /// The `[notify]` table of a whole config file's text (for tools and tests; the root
    /// `Config` embeds [`NotifyConfig`] directly).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            notify: NotifyConfig,
        }
        let f: File = toml::from_str(text).map_err(|e| Error::invalid(format!("{origin}: {e}")))?;
        Ok(f.notify)
    }

    /// Checks the settings and every target, reading secrets from the process environment.
    /// The daily digest's time; `None` when `digest_at` is empty.
    pub fn digest_time(&self) -> std::result::Result<Option<crate::digest::DigestTime>, String> {
        let t = self.digest_at.trim();
        (!t.is_empty()).then(|| t.parse()).transpose()
    }

    pub fn resolve(&self, origin: &str) -> Result<Vec<Target>> {
        self.resolve_with(origin, |k| std::env::var(k).ok())
    }

    /// [`NotifyConfig::resolve`] with `env` for environment variables.
    pub fn resolve_with(
        &self,
        origin: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Target>> {
        let bad = |k: &str, why: &str| Error::invalid(format!("{origin}: notify.{k}: {why}"));
        if self.timeout_ms < 100 {
            return Err(bad("timeout_ms", "must be at least 100"));
        }
        if self.poll_interval_sec == 0 {
            return Err(bad("poll_interval_sec", "must be at least 1"));
        }
        self.digest_time()
            .map_err(|e| bad("digest_at", &format!("{e} (or \"\" for no digest)")))?;
        if self.max_in_flight == 0 || self.max_per_target == 0 {
            return Err(bad("max_in_flight/max_per_target", "must be at least 1"));
        }
        if self.max_response_bytes < 1024 {
            return Err(bad("max_response_bytes", "must be at least 1024"));
        }
        let mut names = HashSet::new();
        let mut out = Vec::new();
        for (i, t) in self.targets.iter().enumerate() {
            let target = resolve_target(t, &env).map_err(|(field, why)| {
                Error::invalid(format!(
                    "{origin}: notify.targets[{i}] ({}).{field}: {why}",
                    if t.name.is_empty() {
                        "unnamed"
                    } else {
                        &t.name
                    }
                ))
            })?;
            if !names.insert(target.name.clone()) {
                return Err(Error::invalid(format!(
                    "{origin}: notify.targets[{i}] ({}).name: a second target of that name",
                    t.name
                )));
            }
            out.push(target);
        }
        Ok(out)
    }
}

type FieldError = (&'static str, String);

fn resolve_target(
    t: &TargetConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<Target, FieldError> {
    let err = |field: &'static str, why: &str| (field, why.to_string());
    if t.name.is_empty() {
        return Err(err("name", "is required"));
    }
    if !t
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(err("name", "use letters, digits, `-`, `_` and `.` only"));
    }
    let Some(kind) = t.kind else {
        return Err(err(
            "kind",
            "is required: webhook, dingtalk, wecom or http_template",
        ));
    };
    let secret = resolve_secret(t, env)?;
    if kind != TargetKind::HttpTemplate {
        if t.method.is_some() {
            return Err(err("method", "only for kind = \"http_template\""));
        }
        if !t.headers.is_empty() {
            return Err(err("headers", "only for kind = \"http_template\""));
        }
        if t.body.is_some() {
            return Err(err("body", "only for kind = \"http_template\""));
        }
    }
    if kind != TargetKind::Dingtalk && (!t.at_mobiles.is_empty() || t.at_all) {
        return Err(err("at_mobiles", "only for kind = \"dingtalk\""));
    }
    let format = match kind {
        TargetKind::Webhook => {
            check_url(&t.url, &[])?;
            if secret.is_none() {
                return Err(err(
                    "secret",
                    "a webhook needs a secret (secret_env, secret_file or secret) to sign with",
                ));
            }
            Format::Webhook
        }
        TargetKind::Dingtalk => {
            check_url(&t.url, &["access_token"])?;
            if let Some(m) = t
                .at_mobiles
                .iter()
                .find(|m| m.is_empty() || !m.chars().all(|c| c.is_ascii_digit() || c == '+'))
            {
                return Err(err("at_mobiles", &format!("{m:?} is not a mobile number")));
            }
            Format::Dingtalk {
                at_mobiles: t.at_mobiles.clone(),
                at_all: t.at_all,
            }
        }
        TargetKind::Wecom => {
            check_url(&t.url, &["key"])?;
            if secret.is_some() {
                return Err(err(
                    "secret",
                    "WeCom robots are not signed: the credential is the url's `key`",
                ));
            }
            Format::Wecom
        }
        TargetKind::HttpTemplate => Format::HttpTemplate(resolve_template(t)?),
    };
    Ok(Target {
        name: t.name.clone(),
        url: t.url.clone(),
        secret,
        kinds: t.kinds.clone(),
        contractors: t.contractors.clone(),
        format,
    })
}

fn resolve_secret(
    t: &TargetConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<Password>, FieldError> {
    let given = [
        t.secret.is_some(),
        t.secret_file.is_some(),
        t.secret_env.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err((
            "secret",
            "give one of secret, secret_file and secret_env".into(),
        ));
    }
    let s = if let Some(s) = &t.secret {
        s.clone()
    } else if let Some(p) = &t.secret_file {
        std::fs::read_to_string(p)
            .map_err(|e| ("secret_file", format!("{}: {e}", p.display())))?
            .trim_end()
            .to_string()
    } else if let Some(k) = &t.secret_env {
        env(k).ok_or_else(|| ("secret_env", format!("environment variable {k} is not set")))?
    } else {
        return Ok(None);
    };
    if s.is_empty() {
        return Err(("secret", "is empty".into()));
    }
    Ok(Some(Password::new(s)))
}

/// An http(s) URL without credentials in it, with the given query parameters present.
fn check_url(url: &str, query: &[&str]) -> std::result::Result<url::Url, FieldError> {
    let u = url::Url::parse(url).map_err(|e| ("url", format!("{url:?}: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(("url", format!("{url:?}: expected http:// or https://")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err((
            "url",
            "no credentials inside the URL: put them in the secret".into(),
        ));
    }
    for q in query {
        if !u.query_pairs().any(|(k, v)| k == *q && !v.is_empty()) {
            return Err((
                "url",
                format!("{}: the robot's URL carries `{q}=…`", redact_url(url)),
            ));
        }
    }
    Ok(u)
}

fn resolve_template(t: &TargetConfig) -> std::result::Result<Template, FieldError> {
    let method = t.method.unwrap_or_default();
    let url = Pattern::parse(&t.url).map_err(|e| ("url", e))?;
    // Checked with every placeholder filled in.
    check_url(&url.fill(|_| "0".into(), |v| v.to_string()), &[])?;
    let mut headers = Vec::new();
    let mut content_type = None;
    for (k, v) in &t.headers {
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(("headers", format!("{k:?} is not a header name")));
        }
        if k.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.to_ascii_lowercase());
        }
        let p = Pattern::parse(v).map_err(|e| ("headers", format!("{k}: {e}")))?;
        headers.push((k.clone(), p));
    }
    let body = match &t.body {
        Some(b) if method == HttpMethod::Get => {
            let _ = b;
            return Err(("body", "a GET request has no body".into()));
        }
        Some(b) => Some(Pattern::parse(b).map_err(|e| ("body", e))?),
        None => None,
    };
    let escape = match (&body, content_type.as_deref()) {
        (None, _) => Escape::Raw,
        (Some(_), None) => {
            return Err((
                "headers",
                "a body needs a Content-Type header, so values can be escaped for it".into(),
            ));
        }
        (Some(_), Some(ct)) if ct.contains("json") => Escape::Json,
        (Some(_), Some(ct)) if ct.contains("x-www-form-urlencoded") => Escape::Form,
        (Some(_), Some(ct)) if ct.starts_with("text/") => Escape::Raw,
        (Some(_), Some(ct)) => {
            return Err((
                "headers",
                format!(
                    "Content-Type {ct:?}: templates know JSON, form-urlencoded and text/* bodies"
                ),
            ));
        }
    };
    Ok(Template {
        method,
        url,
        headers,
        body,
        escape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Target>> {
        NotifyConfig::from_toml(text, "t.toml")?.resolve_with("t.toml", |k| {
            (k == "HOOK_SECRET").then(|| "from-env".to_string())
        })
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_config_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ding.secret");
        std::fs::write(&file, "SECabc\n").unwrap();
        let text = format!(
            r#"
[notify]
timeout_ms = 5000

[[notify.targets]]
name = "hook"
kind = "webhook"
url = "https://ops.example.com/hook"
secret_env = "HOOK_SECRET"
kinds = ["opened", "repair_overdue"]

[[notify.targets]]
name = "ding"
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=T0KEN9"
secret_file = "{}"
contractors = ["甲公司"]
at_mobiles = ["13800000000"]

[[notify.targets]]
name = "wecom"
kind = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"

[[notify.targets]]
name = "sms"
kind = "http_template"
url = "https://sms.example.com/send?sign={{secret}}"
method = "post"
headers = {{ "Content-Type" = "application/json" }}
body = '{{{{"text": "{{summary}}"}}}}'
secret = "s"
"#,
            file.display()
        );
        let t = parse(&text).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].secret.as_ref().unwrap().expose(), "from-env");
        assert_eq!(
            t[0].kinds,
            [NotificationKind::Opened, NotificationKind::RepairOverdue]
        );
        assert_eq!(t[1].secret.as_ref().unwrap().expose(), "SECabc");
        assert_eq!(t[1].format.kind(), TargetKind::Dingtalk);
        assert_eq!(t[2].format, Format::Wecom);
        let Format::HttpTemplate(tpl) = &t[3].format else {
            panic!()
        };
        assert_eq!((tpl.method, tpl.escape), (HttpMethod::Post, Escape::Json));
        // Secrets never print.
        let cfg = NotifyConfig::from_toml(&text, "t").unwrap();
        let shown = format!("{cfg:?} {t:?}");
        assert!(!shown.contains("SECabc") && !shown.contains("from-env"));
        assert!(
            !shown.contains("T0KEN9") && !shown.contains("\"s\""),
            "{shown}"
        );
    }

    /// Each invalid target is refused with its position, its name and the field.
    #[test]
    fn invalid_targets_name_target_and_field() {
        let cases = [
            (
                "[[notify.targets]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x/\"",
                "notify.targets[0] (h).secret: a webhook needs a secret",
            ),
            (
                "[[notify.targets]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://u:p@x/\"\nsecret = \"s\"",
                "notify.targets[0] (h).url: no credentials inside the URL",
            ),
            (
                "[[notify.targets]]\nname = \"d\"\nkind = \"dingtalk\"\nurl = \"https://oapi.dingtalk.com/robot/send\"",
                "notify.targets[0] (d).url: https://oapi.dingtalk.com/robot/send: the robot's URL carries `access_token=…`",
            ),
            (
                "[[notify.targets]]\nname = \"w\"\nkind = \"wecom\"\nurl = \"https://q/send?key=k\"\nsecret = \"s\"",
                "notify.targets[0] (w).secret: WeCom robots are not signed",
            ),
            (
                "[[notify.targets]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x/\"\nsecret_env = \"NOPE\"",
                "(h).secret_env: environment variable NOPE is not set",
            ),
            (
                "[[notify.targets]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x/\"\nsecret = \"a\"\nsecret_env = \"HOOK_SECRET\"",
                "(h).secret: give one of secret, secret_file and secret_env",
            ),
            (
                "[[notify.targets]]\nname = \"sms\"\nkind = \"http_template\"\nurl = \"https://x/\"\nbody = \"{text}\"\nheaders = { \"Content-Type\" = \"application/json\" }",
                "notify.targets[0] (sms).body: unknown placeholder {text}; known: delivery_id",
            ),
            (
                "[[notify.targets]]\nname = \"sms\"\nkind = \"http_template\"\nurl = \"https://x/\"\nbody = \"{summary}\"",
                "(sms).headers: a body needs a Content-Type header",
            ),
            (
                "[[notify.targets]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"https://x/\"\nsecret = \"s\"\nbody = \"x\"",
                "(h).body: only for kind = \"http_template\"",
            ),
            (
                "[[notify.targets]]\nkind = \"webhook\"\nurl = \"https://x/\"\nsecret = \"s\"",
                "notify.targets[0] (unnamed).name: is required",
            ),
            (
                "[[notify.targets]]\nname = \"a\"\nkind = \"wecom\"\nurl = \"https://q/?key=k\"\n[[notify.targets]]\nname = \"a\"\nkind = \"wecom\"\nurl = \"https://q/?key=k\"",
                "notify.targets[1] (a).name: a second target of that name",
            ),
            (
                "[notify]\ntimeout_ms = 5",
                "t.toml: notify.timeout_ms: must be at least 100",
            ),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
        }
        // Closed sets are checked by the parser, which names the line.
        let got = err("[[notify.targets]]\nname = \"x\"\nkind = \"slack\"\nurl = \"https://x/\"");
        assert!(got.contains("line 3") && got.contains("webhook"), "{got}");
        let got = err("[[notify.targets]]\nname = \"x\"\nkind = \"wecom\"\nkinds = [\"closed\"]");
        assert!(
            got.contains("line 4") && got.contains("repair_overdue"),
            "{got}"
        );
    }

    /// The README's example is a valid configuration.
    #[test]
    fn the_readme_example_resolves() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("### Notification targets").unwrap();
        let block = &readme[start..];
        let block = &block[block.find("```toml").unwrap() + 7..];
        let block = &block[..block.find("```").unwrap()];
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("jia-ding.secret");
        std::fs::write(&secret, "SEC1\n").unwrap();
        let text = block
            .replace(
                "/etc/camwatch/jia-ding.secret",
                &secret.display().to_string(),
            )
            .replace('…', "x");
        let t = NotifyConfig::from_toml(&text, "README.md")
            .unwrap()
            .resolve_with("README.md", |_| Some("from-env".into()))
            .unwrap();
        let kinds: Vec<TargetKind> = t.iter().map(|t| t.format.kind()).collect();
        assert_eq!(
            kinds,
            [
                TargetKind::Webhook,
                TargetKind::Dingtalk,
                TargetKind::HttpTemplate
            ]
        );
    }

    #[test]
    fn patterns_parse_braces_and_placeholders() {
        let p = Pattern::parse("{{\"a\": \"{title}\"}}").unwrap();
        assert_eq!(
            p.fill(|v| format!("<{v}>"), |s| s.to_string()),
            "{\"a\": \"<title>\"}"
        );
        assert!(Pattern::parse("{title").unwrap_err().contains("unclosed"));
        assert!(Pattern::parse("a}b").unwrap_err().contains("lone"));
    }

    #[test]
    fn redact_url_hides_query_values() {
        assert_eq!(
            redact_url("https://q/send?key=abc&x"),
            "https://q/send?key=***&x"
        );
        assert_eq!(redact_url("https://q/send"), "https://q/send");
    }
}
