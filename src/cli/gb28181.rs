//! `camwatch gb28181 …` and the GB/T 28181 platform that `serve` runs when `[gb28181] enabled`.
//!
//! The platform's inputs come from here: the devices it expects (the register), each device's
//! own password (the register's, stored sealed) and the shared password (sealed in the config
//! with the data key; `seal-password` prints that form). Its view of each device reaches the
//! monitor as the liveness of devices without an address of their own ([`PlatformStatus`]);
//! its events are logged, each catalog is synced into the register ([`sync_catalog`]: new
//! channels unconfirmed, changes and removals audited by `gb28181`) and unknown devices'
//! attempts are stored for review (`camwatch gb28181 unknown`); recording-health changes are
//! stored and published on the monitor's event bus; each peer's facts are stored (at most a
//! minute behind) and loaded at start as history; on a node of several, an NVR's or lower
//! platform's catalog is synced only under its `catalog:<code>` lease ([`EventLink`]).
//!
//! Must not: decide what a catalog means (`camwatch_gb28181::outcomes::sync` does); a store
//! error here is logged and the platform goes on (the next catalog syncs again).

use std::collections::{HashMap, HashSet};
use std::io::BufRead as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Subcommand;

use super::context::GlobalArgs;
use camwatch_core::clock::SharedClock;
use camwatch_core::config::Gb28181Config;
use camwatch_core::error::{Error, Result};
use camwatch_core::health::PictureSample;
use camwatch_core::outcome::ProbeOutcome;
use camwatch_core::registry::{Confirmation, Device, DeviceCode};
use camwatch_core::secret::{Password, SecretKey};
use camwatch_gb28181::catalog::Catalog;
use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::manscdp::{CatalogEvent, CatalogItem};
use camwatch_gb28181::outcomes;
use camwatch_gb28181::platform::{GbEvent, Platform, PlatformConfig};
use camwatch_gb28181::registrar::Liveness;
use camwatch_store::Store;
use camwatch_store::gb28181::{
    CatalogCounts, CatalogWrite, ChannelChange, ChannelQuery, FieldChange, UnknownAttempt,
};

/// The associated data the shared password is sealed under, so a sealed camera password
/// cannot be pasted in its place.
const SHARED_CONTEXT: &str = "gb28181.shared_password";

#[derive(Debug, Subcommand)]
pub enum Gb28181Command {
    /// Read a password on standard input and print it sealed for `[gb28181] shared_password`.
    SealPassword,
    /// Devices that tried to register without being in the register, most recent first.
    Unknown {
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// Peers' recording health from their DeviceStatus answers (Record, Encode, Status) and
    /// since when; with a CODE, that peer's history of changes.
    Recording {
        code: Option<DeviceCode>,
        /// Only peers that are not recording (Record OFF or unreadable).
        #[arg(long)]
        off: bool,
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
    /// Register entries that GB/T 28181 catalogs listed: where from, confirmed or not, removed.
    Channels {
        /// Only those not yet confirmed by an operator (not counted in reports).
        #[arg(long)]
        unconfirmed: bool,
        /// Only those gone from their source's latest complete catalog.
        #[arg(long)]
        removed: bool,
        /// Only those listed by this device's, NVR's or platform's catalogs.
        #[arg(long)]
        source: Option<DeviceCode>,
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(g: &GlobalArgs, c: &Gb28181Command) -> Result<ExitCode> {
    match c {
        Gb28181Command::Recording {
            code,
            off,
            limit,
            json,
        } => recording(g, code.as_ref(), *off, *limit, *json).await,
        Gb28181Command::Unknown { limit, json } => {
            let ctx = g.context().await?;
            let rows = ctx.store.unknown_devices(*limit).await?;
            if *json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "code": r.code.to_string(),
                            "first_seen_at": camwatch_store::fmt_at(r.first_seen_at),
                            "last_seen_at": camwatch_store::fmt_at(r.last_seen_at),
                            "last_addr": r.last_addr,
                            "attempts": r.attempts,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                println!(
                    "code                  last seen             first seen            attempts  from"
                );
                for r in &rows {
                    println!(
                        "{}  {:<20}  {:<20}  {:>8}  {}",
                        r.code,
                        camwatch_store::fmt_at(r.last_seen_at),
                        camwatch_store::fmt_at(r.first_seen_at),
                        r.attempts,
                        r.last_addr
                    );
                }
                println!("{} unknown device(s)", rows.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Gb28181Command::Channels {
            unconfirmed,
            removed,
            source,
            limit,
            json,
        } => {
            let ctx = g.context().await?;
            let rows = ctx
                .store
                .catalog_channels(&ChannelQuery {
                    source: *source,
                    state: unconfirmed.then_some(Confirmation::Unconfirmed),
                    removed_only: *removed,
                    limit: *limit,
                })
                .await?;
            let opt = |t: Option<i64>| t.map(camwatch_store::fmt_at);
            if *json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "code": r.code.to_string(),
                            "source": r.source.to_string(),
                            "state": r.state.as_str(),
                            "first_seen_at": camwatch_store::fmt_at(r.first_seen_at),
                            "last_seen_at": camwatch_store::fmt_at(r.last_seen_at),
                            "removed_at": opt(r.removed_at),
                            "confirmed_at": opt(r.confirmed_at),
                            "confirmed_by": r.confirmed_by,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                println!(
                    "code                  source                state        last seen             removed"
                );
                for r in &rows {
                    println!(
                        "{}  {}  {:<11}  {:<20}  {}",
                        r.code,
                        r.source,
                        r.state.as_str(),
                        camwatch_store::fmt_at(r.last_seen_at),
                        opt(r.removed_at).unwrap_or_else(|| "-".into())
                    );
                }
                println!("{} channel(s)", rows.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Gb28181Command::SealPassword => {
            let cfg = g.config()?;
            let key =
                SecretKey::load(&cfg.key_file()).map_err(|e| Error::invalid(e.to_string()))?;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::invalid(format!("reading the password: {e}")))?;
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Error::invalid("the password is empty"));
            }
            println!("{}", key.seal(SHARED_CONTEXT, &Password::new(password)));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `camwatch gb28181 recording`: the stored recording health, or one peer's history.
async fn recording(
    g: &GlobalArgs,
    code: Option<&DeviceCode>,
    off: bool,
    limit: u64,
    json: bool,
) -> Result<ExitCode> {
    let ctx = g.context().await?;
    if let Some(code) = code {
        let rows = ctx.store.recording_history(code).await?;
        if json {
            let v: Vec<_> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "at": camwatch_store::fmt_at(r.at),
                        "record": r.record.as_str(),
                        "encode": r.encode.as_str(),
                        "status": r.status.as_str(),
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        } else {
            println!("at                    record   encode   status");
            for r in &rows {
                println!(
                    "{:<20}  {:<7}  {:<7}  {}",
                    camwatch_store::fmt_at(r.at),
                    r.record.as_str(),
                    r.encode.as_str(),
                    r.status.as_str()
                );
            }
            println!("{} change(s) of {code}", rows.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows = ctx.store.recording_states(off, limit).await?;
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "code": r.code.to_string(),
                    "record": r.record.as_str(),
                    "encode": r.encode.as_str(),
                    "status": r.status.as_str(),
                    "since": camwatch_store::fmt_at(r.since),
                    "changed_at": camwatch_store::fmt_at(r.changed_at),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        println!("code                  record   encode   status   since");
        for r in &rows {
            println!(
                "{}  {:<7}  {:<7}  {:<7}  {}",
                r.code,
                r.record.as_str(),
                r.encode.as_str(),
                r.status.as_str(),
                camwatch_store::fmt_at(r.since)
            );
        }
        println!("{} device(s)", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// What a catalog or NOTIFY sync did: the counts, and each device it added to the register
/// with whether it is a parent (an NVR, DVR, encoder or lower platform), so that the running
/// platform learns it at once ([`learn_added`]).
#[derive(Debug, Default)]
pub struct Synced {
    pub counts: CatalogCounts,
    pub added: Vec<(DeviceCode, bool)>,
}

/// Syncs one catalog into the register (see the module doc): reads the register's records of
/// the listed channels and of the devices under the source, compares, and writes the result in
/// one transaction. Returns what changed.
pub async fn sync_catalog(store: &dyn Store, catalog: &Catalog, at: i64) -> Result<Synced> {
    let source: DeviceCode = catalog.device_id.parse().map_err(|e| {
        Error::invalid(format!(
            "catalog DeviceID {:?}: {e}",
            catalog.device_id.chars().take(40).collect::<String>()
        ))
    })?;
    let codes: Vec<DeviceCode> = catalog
        .items
        .iter()
        .filter_map(|i| i.device_id.parse().ok())
        .collect();
    let mut register: Vec<Device> = store
        .list_devices_by_codes(&codes)
        .await?
        .into_values()
        .collect();
    register.extend(store.devices_under(&source).await?);
    let s = outcomes::sync(source, catalog, &register);
    if !s.invalid.is_empty() {
        tracing::warn!(%source, invalid = s.invalid.len(), first = %s.invalid[0],
            "GB/T 28181 catalog items without a valid 20-digit DeviceID: skipped");
    }
    let added = s
        .added
        .iter()
        .map(|d| (d.code, d.kind.is_parent()))
        .collect();
    let counts = store
        .write_catalog(&CatalogWrite {
            source,
            at,
            added: s.added,
            changed: s
                .changed
                .into_iter()
                .map(|c| ChannelChange {
                    after: c.after,
                    fields: c
                        .fields
                        .into_iter()
                        .map(|f| FieldChange {
                            field: f.field.as_str(),
                            before: f.before,
                            after: f.after,
                        })
                        .collect(),
                })
                .collect(),
            listed: s.listed,
            gone: s.gone,
        })
        .await?;
    Ok(Synced { counts, added })
}

/// Syncs a catalog NOTIFY into the register: its ADD and UPDATE items as a partial catalog of
/// `source` (new channels unconfirmed, changes recorded, nothing flagged for being absent),
/// its DEL items flagged removed, never deleted. ON, OFF, VLOST and DEFECT are status, not
/// register facts: the platform holds them.
pub async fn sync_notify(
    store: &dyn Store,
    source: DeviceCode,
    at: i64,
    changes: &[(CatalogEvent, CatalogItem)],
) -> Result<Synced> {
    let items: Vec<CatalogItem> = changes
        .iter()
        .filter(|(e, _)| matches!(e, CatalogEvent::Add | CatalogEvent::Update))
        .map(|(_, i)| i.clone())
        .collect();
    let mut synced = Synced::default();
    if !items.is_empty() {
        let catalog = Catalog {
            device_id: source.to_string(),
            sn: 0,
            sum_num: items.len() as u32,
            items,
            complete: false,
        };
        synced = sync_catalog(store, &catalog, at).await?;
    }
    let gone: Vec<DeviceCode> = changes
        .iter()
        .filter(|(e, _)| *e == CatalogEvent::Del)
        .filter_map(|(_, i)| i.device_id.parse().ok())
        .filter(|c| *c != source)
        .collect();
    if !gone.is_empty() {
        let n = store
            .write_catalog(&CatalogWrite {
                source,
                at,
                added: Vec::new(),
                changed: Vec::new(),
                listed: Vec::new(),
                gone,
            })
            .await?;
        synced.counts.removed += n.removed;
    }
    Ok(synced)
}

/// The platform's ties to the rest of `serve`: the monitor's event bus, where recording-health
/// changes go besides the store (SSE and whoever else subscribes), each with the device's
/// register metadata from the live state; and, on a node of several (`[node]`), its duty
/// board, on which the catalog sync of each NVR or lower platform registered to it is a
/// `catalog:<code>` duty ([`camwatch_gb28181::catalog_lease`]).
#[derive(Clone)]
pub struct EventLink {
    pub state: Arc<camwatch_monitor::MonitorState>,
    pub bus: camwatch_monitor::EventBus,
    /// `None`: the database's one monitor, which syncs every catalog itself.
    pub duties: Option<camwatch_monitor::Duties>,
}

impl EventLink {
    /// Announces stored recording changes (the store says which answers were real changes,
    /// and since when). A device the monitor does not know (not in the register) is skipped.
    fn recording(&self, changed: &[camwatch_store::gb_recording::RecordingRow]) {
        for r in changed {
            let Some((meta, _)) = self.state.status(&r.code) else {
                continue;
            };
            self.bus.publish(
                r.changed_at,
                meta,
                camwatch_monitor::EventKind::Recording(camwatch_monitor::RecordingChange {
                    record: r.record,
                    encode: r.encode,
                    status: r.status,
                    since: r.since,
                }),
            );
        }
    }
}

/// How often the running platform looks for devices the register gained elsewhere (another
/// node's catalog, an import); its own catalogs' additions it learns at once.
const REGISTER_FOLLOW: std::time::Duration = std::time::Duration::from_secs(30);

/// Peers' signalling facts are written at most this often for keepalives alone.
const FACTS_GAP_SEC: i64 = 60;

/// The platform's shared state, as the server and this side hold it.
type SharedPlatform = Arc<Mutex<Platform>>;

/// Loads the facts stored before this start (with each peer's stored recording health) into
/// the platform, shown until each peer is heard again.
async fn remember_facts(store: &dyn Store, platform: &SharedPlatform) {
    let mut stored = match store.sip_facts().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "GB/T 28181: stored SIP facts not read");
            return;
        }
    };
    if stored.is_empty() {
        return;
    }
    match store.recording_states(false, u64::MAX).await {
        Ok(rows) => {
            let by: HashMap<DeviceCode, _> = rows.into_iter().map(|r| (r.code, r)).collect();
            for f in &mut stored {
                f.recording = by
                    .get(&f.code)
                    .map(|r| camwatch_core::signalling::RecordingFacts {
                        record: r.record,
                        encode: r.encode,
                        status: r.status,
                        since: r.since,
                        // The last change stored (the last check is not).
                        checked_at: r.changed_at,
                    });
            }
        }
        Err(e) => tracing::warn!(error = %e, "GB/T 28181: stored recording health not read"),
    }
    let n = stored.len();
    platform
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remember(stored);
    tracing::info!(
        peers = n,
        "GB/T 28181: last known SIP facts from before this start"
    );
}

/// Whether this node may sync the catalog of `source` (a catalog's DeviceID): not when it is
/// an NVR or lower platform whose lease another node holds.
fn may_sync(platform: &SharedPlatform, source: &str) -> bool {
    source.parse::<DeviceCode>().map_or(true, |d| {
        platform
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .may_sync_catalog(&d)
    })
}

/// Tells the platform which catalog leases this node holds, as its duty board changes; ends
/// with the board.
async fn follow_catalog_leases(
    mut running: tokio::sync::watch::Receiver<
        std::collections::BTreeSet<camwatch_core::nodes::duty::Duty>,
    >,
    platform: SharedPlatform,
    clock: SharedClock,
) {
    let mut held = std::collections::BTreeSet::new();
    loop {
        let changes = {
            let now = running.borrow_and_update();
            camwatch_gb28181::catalog_lease::held_changes(&mut held, &now)
        };
        if !changes.is_empty() {
            let now = clock.now().as_second();
            let mut p = platform.lock().unwrap_or_else(|e| e.into_inner());
            for (device, h) in changes {
                tracing::info!(%device, held = h, "GB/T 28181 catalog sync lease");
                p.hold_catalog(device, h, now);
            }
        }
        if running.changed().await.is_err() {
            return;
        }
    }
}

/// Devices a catalog or NOTIFY added to the register (each with whether it is a parent), learnt
/// by the running platform at once: each may register from now on (the shared password: a
/// catalog brings none), and on a node of several (`duties`) a parent's catalog is synced only
/// under its `catalog:<code>` lease, wanted at once if it is already registered here.
fn learn_added(
    platform: &SharedPlatform,
    duties: Option<&camwatch_monitor::Duties>,
    added: &[(DeviceCode, bool)],
    now: i64,
) {
    let mut want = Vec::new();
    {
        let mut p = platform.lock().unwrap_or_else(|e| e.into_inner());
        for (code, parent) in added {
            let leased = *parent && duties.is_some();
            if p.learn_device(*code, None, leased, now) {
                want.push(*code);
            }
            if leased {
                tracing::info!(device = %code,
                    "GB/T 28181: a catalogued NVR or lower platform, its catalog synced under its lease");
            }
        }
    }
    if let Some(d) = duties {
        for code in want {
            d.want(camwatch_core::nodes::duty::Duty::Catalog(code), true);
        }
    }
}

/// Follows the register while the platform runs: every `every`, when the register's revision
/// changed (another node's catalog sync, an import), the devices it gained are learnt as
/// [`learn_added`] does, with their own passwords. Devices leaving the register are not
/// forgotten here (a registered one stays until it expires or unregisters). Ends with `stop`.
async fn follow_register(
    store: Arc<dyn Store>,
    platform: SharedPlatform,
    duties: Option<camwatch_monitor::Duties>,
    clock: SharedClock,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut revision = store.register_revision().await.ok();
    loop {
        tokio::select! {
            _ = clock.sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let now_rev = match store.register_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "GB/T 28181: register revision not read");
                continue;
            }
        };
        if revision == Some(now_rev) {
            continue;
        }
        let devices = match store
            .list_devices(&camwatch_store::DeviceFilter::default())
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "GB/T 28181: register not re-read");
                continue;
            }
        };
        revision = Some(now_rev);
        let now = clock.now().as_second();
        let mut want = Vec::new();
        let mut learnt = 0usize;
        {
            let mut p = platform.lock().unwrap_or_else(|e| e.into_inner());
            for d in devices {
                if p.knows_device(&d.code) {
                    continue;
                }
                learnt += 1;
                let leased = d.kind.is_parent() && duties.is_some();
                if p.learn_device(d.code, d.password, leased, now) {
                    want.push(d.code);
                }
            }
        }
        if learnt > 0 {
            tracing::info!(
                devices = learnt,
                "GB/T 28181: the platform learnt the register's new devices"
            );
        }
        if let Some(d) = &duties {
            for code in want {
                d.want(camwatch_core::nodes::duty::Duty::Catalog(code), true);
            }
        }
    }
}

/// Writes the live facts of `due` peers (those of the register the platform has heard).
async fn write_facts(store: &dyn Store, platform: &SharedPlatform, due: Vec<DeviceCode>, now: i64) {
    if due.is_empty() {
        return;
    }
    let facts: Vec<_> = {
        let p = platform.lock().unwrap_or_else(|e| e.into_inner());
        due.iter()
            .filter(|d| p.knows_device(d))
            .filter_map(|d| p.facts(d, now))
            .filter(|f| f.channel.is_none() && f.peer.stored_at.is_none())
            .map(|f| f.peer)
            .collect()
    };
    if let Err(e) = store.write_sip_facts(&facts, now).await {
        tracing::warn!(error = %e, peers = facts.len(), "GB/T 28181: SIP facts not stored");
    }
}

/// Events the store cares about, written as they come (several per write when they queue up):
/// recording changes then announced on the monitor's bus (`link`), catalogs synced where this
/// node may sync them, the duty of each leased peer's catalog wanted while it is online, and
/// the peers' facts written when due ([`FACTS_GAP_SEC`]); at `stop`, what arrived is handled
/// and every peer's unwritten facts written.
async fn persist_events(
    store: Arc<dyn Store>,
    clock: SharedClock,
    link: Option<EventLink>,
    platform: SharedPlatform,
    mut events: tokio::sync::mpsc::UnboundedReceiver<GbEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    remember_facts(store.as_ref(), &platform).await;
    let duties = link.as_ref().and_then(|l| l.duties.clone());
    let mut flush = camwatch_gb28181::facts_flush::FactsFlush::new(FACTS_GAP_SEC);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(FACTS_GAP_SEC as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        let mut batch = Vec::new();
        if !stopping {
            tokio::select! {
                e = events.recv() => match e {
                    Some(e) => batch.push(e),
                    None => stopping = true,
                },
                _ = &mut stop => stopping = true,
                _ = tick.tick() => {}
            }
        }
        // At the stop, what has already arrived is still handled.
        while batch.len() < 1000 {
            match events.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        for e in &batch {
            flush.note(e);
            if let (Some(duties), GbEvent::Presence(_)) = (&duties, e) {
                // The leased set grows as catalogs bring in NVRs and lower platforms.
                let wanted = camwatch_gb28181::catalog_lease::wanted(
                    e,
                    &platform
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .config()
                        .catalog_leased,
                );
                if let Some((duty, want)) = wanted {
                    duties.want(duty, want);
                }
            }
        }
        let mut unknown = Vec::new();
        let mut recording = Vec::new();
        for e in &batch {
            log_event(e);
            match e {
                GbEvent::Recording { device, now, .. } => {
                    recording.push(camwatch_store::gb_recording::RecordingWrite {
                        code: *device,
                        at: now.checked_at,
                        record: now.record,
                        encode: now.encode,
                        status: now.status,
                    })
                }
                GbEvent::Unknown { device, from, at } => unknown.push(UnknownAttempt {
                    code: *device,
                    from: *from,
                    at: *at,
                }),
                GbEvent::Catalog(c) if !may_sync(&platform, &c.device_id) => {
                    tracing::debug!(source = %c.device_id,
                        "GB/T 28181 catalog not synced here: another node holds its lease");
                }
                GbEvent::CatalogNotify { source, .. }
                    if !may_sync(&platform, &source.to_string()) =>
                {
                    tracing::debug!(%source,
                        "GB/T 28181 catalog NOTIFY not synced here: another node holds its lease");
                }
                GbEvent::Catalog(c) => {
                    let at = clock.now().as_second();
                    match sync_catalog(store.as_ref(), c, at).await {
                        Ok(synced) => {
                            let n = &synced.counts;
                            tracing::info!(
                                source = %c.device_id,
                                added = n.added,
                                changed = n.changed,
                                removed = n.removed,
                                relisted = n.relisted,
                                "GB/T 28181 catalog synced into the register"
                            );
                            learn_added(&platform, duties.as_ref(), &synced.added, at);
                        }
                        Err(e) => tracing::warn!(source = %c.device_id, error = %e,
                            "GB/T 28181 catalog not synced"),
                    }
                }
                GbEvent::CatalogNotify {
                    source,
                    at,
                    changes,
                } => match sync_notify(store.as_ref(), *source, *at, changes).await {
                    Ok(synced) => learn_added(&platform, duties.as_ref(), &synced.added, *at),
                    Err(e) => {
                        tracing::warn!(%source, error = %e, "GB/T 28181 catalog NOTIFY not synced")
                    }
                },
                _ => {}
            }
        }
        match store.record_recording(&recording).await {
            Ok(changed) => {
                if let Some(l) = &link {
                    l.recording(&changed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "GB/T 28181 recording health not stored"),
        }
        if let Err(e) = store.record_unknown_devices(&unknown).await {
            tracing::warn!(error = %e, "GB/T 28181 unknown devices not stored");
        }
        let now = clock.now().as_second();
        if stopping && batch.is_empty() {
            write_facts(store.as_ref(), &platform, flush.all(now), now).await;
            return;
        }
        write_facts(store.as_ref(), &platform, flush.due(now), now).await;
    }
}

/// The platform's configuration from the config section and the register.
pub fn platform_config(
    cfg: &Gb28181Config,
    key: &SecretKey,
    devices: &[Device],
) -> Result<PlatformConfig> {
    let shared_password = if cfg.shared_password.trim().is_empty() {
        None
    } else {
        Some(
            key.open(SHARED_CONTEXT, cfg.shared_password.trim())
                .map_err(|e| Error::invalid(format!("config gb28181.shared_password: {e}")))?,
        )
    };
    let passwords: HashMap<DeviceCode, Password> = devices
        .iter()
        .filter_map(|d| Some((d.code, d.password.clone().filter(|p| !p.is_empty())?)))
        .collect();
    let known: HashSet<DeviceCode> = devices.iter().map(|d| d.code).collect();
    Ok(PlatformConfig {
        id: cfg.id.clone(),
        domain: cfg.domain.clone(),
        shared_password,
        passwords,
        known,
        unknown: cfg.unknown_devices,
        liveness: Liveness {
            interval_sec: cfg.keepalive_interval_sec,
            misses: cfg.keepalive_misses,
        },
        per_device_liveness: HashMap::new(),
        catalog_subscription_sec: cfg.catalog_subscription_sec,
        status_poll: camwatch_gb28181::status_poll::PollConfig {
            interval_sec: cfg.device_status_sec,
            at_once: cfg.device_status_at_once.max(1),
        },
        // Set by `start` on a node of several.
        catalog_leased: HashSet::new(),
        // Checked when the config was read.
        time_zone: jiff::tz::TimeZone::get(cfg.time_zone.trim())
            .map_err(|e| Error::invalid(format!("config gb28181.time_zone: {e}")))?,
    })
}

/// A started platform: its server task (ending at shutdown) and its view as the monitor's
/// signalling source.
pub type Started = (
    tokio::task::JoinHandle<std::io::Result<()>>,
    Arc<dyn camwatch_monitor::SignallingStatus>,
);

/// The platform as the monitor's signalling source, and its picture probe (INVITE) when
/// `picture_invites` is on.
#[derive(Debug)]
pub struct PlatformStatus(
    Arc<Mutex<Platform>>,
    Option<Arc<camwatch_gb28181::media::MediaProber>>,
);

/// The picture probe's settings from the config section (`None`: `picture_invites` off).
pub fn media_config(cfg: &Gb28181Config) -> Option<camwatch_gb28181::media::MediaConfig> {
    use camwatch_core::config::GbMediaTransport;
    use camwatch_gb28181::sdp::MediaMode;
    let mode = |t: GbMediaTransport| match t {
        GbMediaTransport::Udp => MediaMode::Udp,
        GbMediaTransport::TcpPassive => MediaMode::TcpPassive,
        GbMediaTransport::TcpActive => MediaMode::TcpActive,
    };
    cfg.picture_invites
        .then(|| camwatch_gb28181::media::MediaConfig {
            ip: cfg.media_ip.trim().parse().ok(),
            answer_timeout: std::time::Duration::from_secs(cfg.invite_answer_sec),
            media_timeout: std::time::Duration::from_secs(cfg.media_timeout_sec),
            per_parent: cfg.invite_per_platform.max(1),
            mode: mode(cfg.media_transport),
            // The config's check let only 20-digit IDs through.
            mode_per_peer: cfg
                .media_transport_peers
                .iter()
                .filter_map(|(code, t)| Some((code.parse().ok()?, mode(*t))))
                .collect(),
        })
}

impl camwatch_monitor::SignallingStatus for PlatformStatus {
    fn observe(&self, device: &DeviceCode, now: i64) -> Option<ProbeOutcome> {
        // A sync lock: `observe` is a few map lookups, nothing awaits under it.
        let p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.observe(device, now).map(|o| o.outcome)
    }

    fn picture(&self, device: &DeviceCode, now: i64) -> Option<PictureSample> {
        let p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.channel_picture(device, now)
    }

    fn facts(&self, device: &DeviceCode, now: i64) -> Option<camwatch_core::signalling::SipFacts> {
        let p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        p.facts(device, now)
    }

    fn takes_pictures(&self) -> bool {
        self.1.is_some()
    }

    fn picture_probe(
        &self,
        device: DeviceCode,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ProbeOutcome> + Send + 'static>> {
        let media = self.1.clone();
        Box::pin(async move {
            match media {
                Some(m) => m.probe(device).await,
                None => ProbeOutcome::down(
                    camwatch_core::outcome::ProbeKind::Sip,
                    camwatch_core::outcome::FailureKind::NoMedia,
                    "GB/T 28181 picture INVITEs are off (gb28181.picture_invites)",
                ),
            }
        })
    }
}

/// Binds the configured addresses and starts the platform; returns its task, which ends when
/// `stop` turns true, and the platform as a signalling source for the monitor.
pub async fn start(
    cfg: &Gb28181Config,
    key: &SecretKey,
    devices: &[Device],
    clock: SharedClock,
    store: Arc<dyn Store>,
    link: Option<EventLink>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Started> {
    let mut platform = platform_config(cfg, key, devices)?;
    if link.as_ref().is_some_and(|l| l.duties.is_some()) {
        // Several nodes: an NVR's or lower platform's catalog is synced by one of them.
        platform.catalog_leased = devices
            .iter()
            .filter(|d| d.kind.is_parent())
            .map(|d| d.code)
            .collect();
    }
    let udp = tokio::net::UdpSocket::bind(cfg.udp_listen.trim())
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "config gb28181.udp_listen = {:?}: {e}",
                cfg.udp_listen
            ))
        })?;
    let tcp = tokio::net::TcpListener::bind(cfg.tcp_listen.trim())
        .await
        .map_err(|e| {
            Error::invalid(format!(
                "config gb28181.tcp_listen = {:?}: {e}",
                cfg.tcp_listen
            ))
        })?;
    tracing::info!(
        udp = %udp.local_addr().map_or_else(|_| cfg.udp_listen.clone(), |a| a.to_string()),
        tcp = %tcp.local_addr().map_or_else(|_| cfg.tcp_listen.clone(), |a| a.to_string()),
        id = %cfg.id,
        domain = %cfg.domain,
        "camwatch serve: GB/T 28181 platform"
    );
    start_bound(
        platform,
        media_config(cfg),
        udp,
        tcp,
        clock,
        store,
        link,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )
}

/// Starts the platform on sockets already bound (tests bind port 0): the server, and the task
/// that syncs catalogs into `store`, records unknown devices and recording health (announcing
/// its changes on `link`'s bus). Returns the server's task (ending when `shutdown` completes)
/// and the platform as a signalling source.
#[allow(clippy::too_many_arguments)]
pub fn start_bound(
    platform: PlatformConfig,
    media: Option<camwatch_gb28181::media::MediaConfig>,
    udp: tokio::net::UdpSocket,
    tcp: tokio::net::TcpListener,
    clock: SharedClock,
    store: Arc<dyn Store>,
    link: Option<EventLink>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Started> {
    let platform = Arc::new(Mutex::new(Platform::new(platform, Nonces::random(), {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).map_err(|e| Error::internal(format!("random source: {e}")))?;
        u64::from_le_bytes(b)
    })));
    if let Some(d) = link.as_ref().and_then(|l| l.duties.as_ref()) {
        tokio::spawn(follow_catalog_leases(
            d.watch(),
            platform.clone(),
            clock.clone(),
        ));
    }
    let (stop_follow, follow_stop) = tokio::sync::watch::channel(false);
    tokio::spawn(follow_register(
        store.clone(),
        platform.clone(),
        link.as_ref().and_then(|l| l.duties.clone()),
        clock.clone(),
        REGISTER_FOLLOW,
        follow_stop,
    ));
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let (stop_persist, persist_stop) = tokio::sync::oneshot::channel();
    let persist = tokio::spawn(persist_events(
        store,
        clock.clone(),
        link,
        platform.clone(),
        events,
        persist_stop,
    ));
    let server = camwatch_gb28181::server::Server::new(platform.clone(), udp, tcp, clock, tx)
        .map_err(|e| Error::unavailable("GB/T 28181 platform sockets", e))?;
    let media = media.map(|m| {
        Arc::new(camwatch_gb28181::media::MediaProber::new(
            server.handle(),
            m,
        ))
    });
    let status = Arc::new(PlatformStatus(platform, media));
    // The server, then the last writes (the peers' facts as they stand at the stop).
    let task = tokio::spawn(async move {
        let r = server.run(shutdown).await;
        let _ = stop_follow.send(true);
        let _ = stop_persist.send(());
        let _ = persist.await;
        r
    });
    Ok((task, status))
}

fn log_event(e: &GbEvent) {
    match e {
        GbEvent::Presence(t) => {
            tracing::info!(device = %t.device, at = t.at, presence = ?t.presence, "GB/T 28181 presence")
        }
        GbEvent::Keepalive { device, .. } => tracing::debug!(%device, "GB/T 28181 keepalive"),
        GbEvent::Catalog(c) => tracing::info!(
            device = %c.device_id,
            channels = c.items.len(),
            announced = c.sum_num,
            complete = c.complete,
            "GB/T 28181 catalog"
        ),
        GbEvent::Refused {
            device, from, why, ..
        } => {
            tracing::warn!(%device, %from, ?why, "GB/T 28181 registration refused")
        }
        GbEvent::Unknown { device, from, .. } => {
            tracing::info!(%device, %from, "GB/T 28181 REGISTER from a device not in the register")
        }
        GbEvent::CatalogNotify {
            source, changes, ..
        } => tracing::debug!(%source, changes = changes.len(), "GB/T 28181 catalog NOTIFY"),
        GbEvent::DeviceInfo { device, .. } | GbEvent::DeviceStatus { device, .. } => {
            tracing::debug!(%device, "GB/T 28181 device answer")
        }
        GbEvent::Recording {
            device,
            previous,
            now,
        } => {
            let was = previous.map_or("-", |p| p.record.as_str());
            if now.record == camwatch_core::signalling::OnOff::On {
                tracing::info!(%device, was, encode = %now.encode, status = %now.status,
                    "GB/T 28181 device recording")
            } else {
                tracing::warn!(%device, was, record = %now.record, encode = %now.encode,
                    status = %now.status, since = now.since, "GB/T 28181 device NOT recording")
            }
        }
        GbEvent::NoAnswer { what, .. } => tracing::warn!(
            device = %what.device(),
            request = ?what,
            "GB/T 28181 request unanswered (sent again over UDP until 32 s)"
        ),
    }
}
