//! The API over a real socket on 127.0.0.1:0, a SQLite store in a temp dir, a manual clock,
//! a small register of two districts and two contractors, and one user of each kind; plus a
//! small checker of JSON bodies against the served OpenAPI document.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use camwatch_access::{Accounts, Actor, NewAccount, Policy, TokenSpec};
use camwatch_api::AppState;
use camwatch_api::ops::{Ops, StreamOptions};
use camwatch_core::access::scope::parse_regions;
use camwatch_core::access::{PasswordState, Role, Scope, TokenAccess};
use camwatch_core::cause::Cause;
use camwatch_core::clock::{Clock, ManualClock};
use camwatch_core::health::Change;
use camwatch_core::history::Status;
use camwatch_core::outcome::{FailureKind, ProbeKind, ProbeOutcome};
use camwatch_core::registry::{Device, DeviceCode};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_monitor::scheduler::ProbeClass;
use camwatch_monitor::{EventBus, MonitorState};
use camwatch_store::Store;
use camwatch_workorder::{Desk, Sla};
use serde_json::Value;

pub const GOOD: &str = "Camw4tch!";
/// The contract reports are made under: the repository's example.
pub const CONTRACT: &str = include_str!("../../../../contracts/example-98.toml");
pub const NOW: &str = "2026-12-01T08:00:00Z";

/// District 340104 (Shushan): two AlphaCo cameras. District 340103 (Luyang): one BetaCo
/// camera and one AlphaCo camera.
pub const A1: &str = "34010400001320000001";
pub const A2: &str = "34010400001320000002";
pub const B1: &str = "34010300001320000003";
pub const B2: &str = "34010300001320000004";
/// A valid code that is in no register.
pub const NOBODY: &str = "34010400001320009999";

pub struct Env {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub monitor: Arc<MonitorState>,
    /// The monitor's event bus the API streams from: publish here to drive `/events`.
    pub bus: EventBus,
    /// The operations root (`http://127.0.0.1:PORT`, without `/api/v1`).
    pub root: String,
    /// The server's clock (starts at [`NOW`]).
    pub clock: Arc<ManualClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
    _tls_dir: Option<tempfile::TempDir>,
}

/// The operations settings of the test server: short ticks, so that a summary update or the
/// end of a signed-out stream comes within a fraction of a second.
fn ops_for(bus: &EventBus) -> Ops {
    let mut ops = Ops::new(bus.clone());
    ops.stream = StreamOptions {
        keep_alive: Duration::from_secs(15),
        summary_every: Duration::from_millis(100),
        recheck_every: Duration::from_millis(100),
        // Short, but long enough that a burst of changes is sent in batches.
        batch: Duration::from_millis(20),
    };
    ops
}

fn device(code: &str, name: &str, civil: &str, maintainer: &str, address: &str) -> Device {
    let mut d = Device::new(code.parse::<DeviceCode>().unwrap(), name);
    d.civil_code = Some(civil.into());
    d.maintainer = Some(maintainer.into());
    d.address = Some(address.into());
    d
}

pub async fn env() -> Env {
    env_with(false).await
}

pub async fn env_with(secure_cookie: bool) -> Env {
    env_ops(secure_cookie, |_| {}).await
}

/// The test server with its operations settings changed by `tweak`.
pub async fn env_ops(secure_cookie: bool, tweak: impl FnOnce(&mut Ops)) -> Env {
    env_full(secure_cookie, tweak, None, Default::default()).await
}

/// The test server with these `[patrol]` rules.
pub async fn env_patrol(patrol: camwatch_core::config::PatrolConfig) -> Env {
    env_full(false, |_| {}, None, patrol).await
}

/// The test server over TLS with a fresh self-signed certificate for `localhost` and
/// 127.0.0.1, written to the data directory as `cert.pem` and `key.pem`; the client trusts
/// exactly that certificate.
pub async fn env_tls() -> Env {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let acceptor = camwatch_api::tls::Certificates::load(&c, &k)
        .unwrap()
        .acceptor()
        .unwrap();
    let trust = reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap();
    env_full(
        true,
        |_| {},
        Some((acceptor, trust, dir)),
        Default::default(),
    )
    .await
}

async fn env_full(
    secure_cookie: bool,
    tweak: impl FnOnce(&mut Ops),
    tls: Option<(
        tokio_rustls::TlsAcceptor,
        reqwest::Certificate,
        tempfile::TempDir,
    )>,
    patrol: camwatch_core::config::PatrolConfig,
) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = camwatch_store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        SecretKey::generate(),
    )
    .await
    .unwrap();
    let devices = vec![
        device(A1, "长江路口东", "340104", "AlphaCo", "长江西路 1 号"),
        device(A2, "黄山路口西", "340104", "AlphaCo", "黄山路 2 号"),
        device(B1, "淮河路步行街", "340103", "BetaCo", "淮河路 3 号"),
        device(B2, "逍遥津公园", "340103", "AlphaCo", "寿春路 4 号"),
    ];
    store.upsert_devices(&devices).await.unwrap();
    let clock = Arc::new(ManualClock::new(NOW.parse().unwrap()));
    let now = clock.now().as_second();
    let monitor = Arc::new(MonitorState::for_devices(&devices, now));
    // A1 offline for an hour (a refused stream), B1 online; the others unknown.
    monitor.note_change(
        0,
        &Change {
            status: Status::Offline,
            at: now - 3600,
            cause: Some(Cause::from_failure(FailureKind::ConnectTimeout)),
        },
    );
    let mut probe = ProbeOutcome::down(ProbeKind::Rtsp, FailureKind::ConnectTimeout, "no answer");
    probe.step("connect", Duration::from_millis(3000));
    monitor.record_probe(0, ProbeClass::Liveness, now - 60, &probe);
    monitor.note_change(
        2,
        &Change {
            status: Status::Online,
            at: now - 7200,
            cause: None,
        },
    );
    let accounts = Accounts::new(store.clone(), clock.clone(), Policy::default()).unwrap();
    let bus = EventBus::new(64);
    let mut ops = ops_for(&bus);
    tweak(&mut ops);
    let desk = Desk {
        store: store.clone(),
        sla: Arc::new(Sla::new(store.clone(), None, Vec::new()).unwrap()),
        announcer: Arc::new(camwatch_workorder::Silent),
    };
    let state = AppState {
        store: store.clone(),
        accounts: accounts.clone(),
        monitor: monitor.clone(),
        desk,
        clock: clock.clone(),
        secure_cookie,
        register: Default::default(),
        reports: Some(camwatch_api::reports::Reports::new(
            camwatch_core::contract::Contract::parse(CONTRACT, "example-98.toml").unwrap(),
            CONTRACT.to_string(),
        )),
        ops,
        console: Default::default(),
        pictures: Some(Arc::new(camwatch_api::devices::pictures::Pictures {
            dir: dir.path().join("baselines"),
            thresholds: Arc::new(Default::default()),
        })),
        patrol: Arc::new(patrol),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let (scheme, http, server, tls_dir) = match tls {
        None => (
            "http",
            reqwest::Client::new(),
            tokio::spawn(camwatch_api::serve(listener, state, stopped)),
            None,
        ),
        Some((acceptor, trust, tls_dir)) => (
            "https",
            reqwest::Client::builder()
                .tls_certs_only([trust])
                .build()
                .unwrap(),
            tokio::spawn(camwatch_api::serve_tls(listener, acceptor, state, stopped)),
            Some(tls_dir),
        ),
    };
    let env = Env {
        base: format!("{scheme}://{addr}/api/v1"),
        http,
        store,
        accounts,
        monitor,
        bus,
        root: format!("{scheme}://{addr}"),
        clock,
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
        _tls_dir: tls_dir,
    };
    env.user("admin1", Role::Admin, "", None).await;
    env.user("op", Role::Operator, "", None).await;
    env.user("shushan", Role::Operator, "340104", None).await;
    env.user("alpha", Role::Contractor, "", Some("AlphaCo"))
        .await;
    env.user("beta", Role::Contractor, "", Some("BetaCo")).await;
    env.user("audit", Role::Auditor, "", None).await;
    env
}

fn cli() -> Actor {
    Actor::Cli {
        os_user: "test".into(),
    }
}

/// A logged-in session: its cookie header value and CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// The cookie with the CSRF header.
    Session(Session),
    /// The cookie without the CSRF header.
    CookieOnly(Session),
    Bearer(String),
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Env {
    /// The server's data directory (`baselines/` is in it).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Shuts the server down gracefully and waits until it has returned.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub async fn user(&self, name: &str, role: Role, regions: &str, maintainer: Option<&str>) {
        let regions = if regions.is_empty() {
            Vec::new()
        } else {
            parse_regions(regions).unwrap()
        };
        self.accounts
            .create_user(
                &cli(),
                &NewAccount {
                    name: name.into(),
                    role,
                    scope: Scope::new(regions, maintainer.map(str::to_string)),
                    password: Some(Password::new(GOOD)),
                },
            )
            .await
            .unwrap();
        self.accounts
            .reset_password(&cli(), name, &Password::new(GOOD), PasswordState::Current)
            .await
            .unwrap();
    }

    pub async fn token(&self, owner: &str, access: TokenAccess) -> String {
        self.accounts
            .issue_token(
                &cli(),
                owner,
                &TokenSpec {
                    name: format!("{owner}-tok"),
                    access,
                    regions: Vec::new(),
                    expires_at: None,
                },
            )
            .await
            .unwrap()
            .token
            .expose()
            .to_string()
    }

    /// Sends a request; `body` is JSON text (or anything, for hostile tests).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::None => {}
            Auth::Session(s) => {
                rb = rb
                    .header("cookie", &s.cookie)
                    .header("x-csrf-token", &s.csrf)
            }
            Auth::CookieOnly(s) => rb = rb.header("cookie", &s.cookie),
            Auth::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
        }
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        if let Some((ct, b)) = body {
            rb = rb.header("content-type", ct).body(b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A GET whose body is not JSON (a file): status, headers, bytes.
    pub async fn fetch(
        &self,
        path: &str,
        auth: &Auth,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        match auth {
            Auth::None => {}
            Auth::Session(s) | Auth::CookieOnly(s) => rb = rb.header("cookie", &s.cookie),
            Auth::Bearer(t) => rb = rb.header("authorization", format!("Bearer {t}")),
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec())
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.raw("GET", path, auth, None, &[]).await
    }

    pub async fn send(&self, method: &str, path: &str, auth: &Auth, body: Value) -> Reply {
        self.raw(
            method,
            path,
            auth,
            Some(("application/json", serde_json::to_vec(&body).unwrap())),
            &[],
        )
        .await
    }

    pub async fn login_reply(&self, name: &str, password: &str, extra: &[(&str, &str)]) -> Reply {
        self.raw(
            "POST",
            "/session",
            &Auth::None,
            Some((
                "application/json",
                serde_json::to_vec(&serde_json::json!({"name": name, "password": password}))
                    .unwrap(),
            )),
            extra,
        )
        .await
    }

    /// Logs `name` in with the good password.
    pub async fn login(&self, name: &str) -> Auth {
        let r = self.login_reply(name, GOOD, &[]).await;
        assert_eq!(r.status, 200, "login {name}: {}", r.body);
        Auth::Session(Session {
            cookie: cookie_of(&r),
            csrf: r.body["csrf"].as_str().unwrap().to_string(),
        })
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> Value {
        let r = self.get("/openapi.json", &Auth::None).await;
        assert_eq!(r.status, 200);
        r.body
    }
}

/// `name=value` of the session cookie a reply sets.
pub fn cookie_of(r: &Reply) -> String {
    let set = r
        .headers
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap();
    set.split(';').next().unwrap().trim().to_string()
}

/// Checks `v` against the schema named `name` in `doc`'s components: required properties
/// present, no property the schema does not declare, every type as declared.
pub fn conforms(doc: &Value, name: &str, v: &Value) {
    let schema = serde_json::json!({"$ref": format!("#/components/schemas/{name}")});
    if let Err(e) = check(doc, &schema, v, "$") {
        panic!("{name}: {e}\nbody: {v}");
    }
}

fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a local ref");
            let target = &doc["components"]["schemas"][name];
            assert!(!target.is_null(), "no schema {name} in the document");
            resolve(doc, target)
        }
        None => s,
    }
}

/// The properties and required names of an object schema, merging `allOf` parts.
fn object_parts(doc: &Value, s: &Value) -> (serde_json::Map<String, Value>, Vec<String>) {
    let s = resolve(doc, s);
    let mut props = serde_json::Map::new();
    let mut req = Vec::new();
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for part in all {
            let (p, r) = object_parts(doc, part);
            props.extend(p);
            req.extend(r);
        }
    }
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        props.extend(p.clone());
    }
    if let Some(r) = s.get("required").and_then(Value::as_array) {
        req.extend(r.iter().filter_map(Value::as_str).map(str::to_string));
    }
    (props, req)
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

fn check(doc: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(doc, s);
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            return if alts.iter().any(|a| check(doc, a, v, at).is_ok()) {
                Ok(())
            } else {
                Err(format!("{at}: matches no alternative of {key}"))
            };
        }
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(xs) => xs.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.iter().any(|t| type_ok(t, v)) {
            return Err(format!("{at}: {v} is not {types:?}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    if v.is_object() && (s.get("properties").is_some() || s.get("allOf").is_some()) {
        let (props, req) = object_parts(doc, s);
        let obj = v.as_object().unwrap();
        for r in &req {
            if !obj.contains_key(r) {
                return Err(format!("{at}: missing required {r}"));
            }
        }
        for (k, val) in obj {
            let Some(ps) = props.get(k) else {
                return Err(format!("{at}: {k} is not in the schema"));
            };
            check(doc, ps, val, &format!("{at}.{k}"))?;
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
