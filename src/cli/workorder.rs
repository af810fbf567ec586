//! `camwatch workorder`: list, show, open by hand, and every action on a fault work order.
//!
//! Changes go through `camwatch_workorder::Desk`, the same path the engine and the API take;
//! each is audited as `cli:<os user>`. A repair reported here is verified by the running
//! monitor (`serve`), which re-probes the order's devices at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_core::registry::DeviceCode;
use camwatch_core::workorder::{Action, Origin, State};
use camwatch_store::workorders::{OrderFilter, WorkOrder};
use camwatch_workorder::{Desk, ManualOrder, Sla};

use super::context::{Context, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum WorkOrderCommand {
    /// Orders, newest first.
    List(ListArgs),
    /// One order: its devices, history and attachments.
    Show(ShowArgs),
    /// Open an order by hand (a user-reported fault).
    Open(OpenArgs),
    /// The contractor responds (records the response time).
    Accept(ActArgs),
    /// The contractor reports the repair done; the running monitor re-probes to verify it.
    Repair(ActArgs),
    /// Review a verified repair: approve (closed) or reject (reopened).
    Review(ReviewArgs),
    /// Reopen a closed order (the fault is back, or the repair was not real).
    Reopen(ActArgs),
    /// Give the order to another contractor.
    Assign(AssignArgs),
    /// Add a note, optionally with a file (a photo from the site).
    Note(NoteArgs),
    /// Close an order without a repair (a false report, a device removed).
    Cancel(ActArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub state: Option<State>,
    /// Only open orders.
    #[arg(long, conflicts_with = "closed")]
    pub open: bool,
    /// Only closed orders.
    #[arg(long)]
    pub closed: bool,
    #[arg(long)]
    pub contractor: Option<String>,
    /// Civil-code prefix of the region.
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub origin: Option<Origin>,
    /// Only orders whose response or repair went overdue.
    #[arg(long)]
    pub overdue: bool,
    /// Orders older than this id (the next page).
    #[arg(long)]
    pub before: Option<i64>,
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub id: i64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    /// The devices the fault concerns (the first is the order's subject).
    #[arg(long = "device", required = true)]
    pub devices: Vec<DeviceCode>,
    #[arg(long, default_value = "")]
    pub title: String,
    #[arg(long, default_value = "")]
    pub note: String,
    /// Assign to this contractor instead of the device's maintainer.
    #[arg(long)]
    pub contractor: Option<String>,
    /// Contract rules for the level and deadlines; default: `[contract] file` in the config.
    #[arg(long)]
    pub contract: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ActArgs {
    pub id: i64,
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    pub id: i64,
    #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
    pub approve: bool,
    #[arg(long)]
    pub reject: bool,
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    pub id: i64,
    #[arg(long)]
    pub to: String,
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    pub id: i64,
    #[arg(long, default_value = "")]
    pub note: String,
    /// A file to attach (JPEG, PNG or PDF).
    #[arg(long)]
    pub attach: Option<PathBuf>,
}

pub async fn run(g: &GlobalArgs, c: &WorkOrderCommand) -> Result<ExitCode> {
    let ctx = g.context().await?;
    let now = jiff::Timestamp::now().as_second();
    let actor = actor();
    match c {
        WorkOrderCommand::List(a) => list(&ctx, a).await,
        WorkOrderCommand::Show(a) => show(&ctx, a).await,
        WorkOrderCommand::Open(a) => {
            let desk = desk(&ctx, a.contract.as_deref())?;
            let o = desk
                .open_manual(
                    ManualOrder {
                        devices: a.devices.clone(),
                        title: a.title.clone(),
                        note: a.note.clone(),
                        contractor: a.contractor.clone(),
                        since: None,
                    },
                    now,
                    &actor,
                )
                .await?;
            println!("opened work order {}: {}", o.id, o.title);
            Ok(ExitCode::SUCCESS)
        }
        WorkOrderCommand::Accept(a) => act(&ctx, a.id, Action::Accept, now, &actor, &a.note).await,
        WorkOrderCommand::Repair(a) => act(&ctx, a.id, Action::Repair, now, &actor, &a.note).await,
        WorkOrderCommand::Reopen(a) => act(&ctx, a.id, Action::Reopen, now, &actor, &a.note).await,
        WorkOrderCommand::Cancel(a) => act(&ctx, a.id, Action::Cancel, now, &actor, &a.note).await,
        WorkOrderCommand::Review(a) => {
            let action = if a.approve {
                Action::Approve
            } else {
                Action::Reopen
            };
            act(&ctx, a.id, action, now, &actor, &a.note).await
        }
        WorkOrderCommand::Assign(a) => {
            let action = Action::Assign {
                contractor: a.to.clone(),
            };
            act(&ctx, a.id, action, now, &actor, &a.note).await
        }
        WorkOrderCommand::Note(a) => {
            let desk = desk(&ctx, None)?;
            if let Some(path) = &a.attach {
                let bytes = read_attachment(path)?;
                let name = path
                    .file_name()
                    .map_or_else(|| "attachment".into(), |n| n.to_string_lossy().into_owned());
                let aid = desk
                    .attach(a.id, now, &actor, &name, media_type(&bytes), &bytes)
                    .await?;
                println!("attached {name} to work order {} (attachment {aid})", a.id);
            }
            if !a.note.is_empty() || a.attach.is_none() {
                desk.act(a.id, &Action::Note, now, &actor, &a.note).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// The `[notify]` section, checked: its settings and its targets (secrets resolved).
pub(crate) fn notify_config(
    cfg: &camwatch_core::config::Config,
) -> Result<(
    camwatch_notify::config::NotifyConfig,
    Vec<camwatch_notify::config::Target>,
)> {
    let n: camwatch_notify::config::NotifyConfig = toml::Value::Table(cfg.notify.clone())
        .try_into()
        .map_err(|e| Error::invalid(format!("config [notify]: {e}")))?;
    let targets = n.resolve("config")?;
    Ok((n, targets))
}

/// The engine's announcer over the notifier's message formats.
struct Notify(camwatch_notify::Announcements);

impl camwatch_workorder::Announcer for Notify {
    fn rows(
        &self,
        order: &WorkOrder,
        kind: camwatch_core::workorder::EventKind,
        at: i64,
        devices: &[DeviceCode],
    ) -> Vec<camwatch_store::outbox::NewOutboxRow> {
        self.0.rows(order, kind, at, devices)
    }
}

/// Where notifications of orders go: the configured targets, or nowhere.
pub(crate) fn announcer(
    cfg: &camwatch_core::config::Config,
    time_zone: &str,
) -> Result<Arc<dyn camwatch_workorder::Announcer>> {
    let (_, targets) = notify_config(cfg)?;
    if targets.is_empty() {
        return Ok(Arc::new(camwatch_workorder::Silent));
    }
    Ok(Arc::new(Notify(camwatch_notify::Announcements {
        targets,
        time_zone: time_zone.to_string(),
    })))
}

/// The contract at `path`, else `[contract] file` of the config; `None` when neither is set.
fn contract(ctx: &Context, path: Option<&std::path::Path>) -> Result<Option<Contract>> {
    let path = path.map(PathBuf::from).or_else(|| {
        (!ctx.config.contract.file.is_empty()).then(|| PathBuf::from(&ctx.config.contract.file))
    });
    path.map(|p| super::report::load_contract(&p).map(|(c, _)| c))
        .transpose()
}

/// The zone of times in messages: the contract's, else China's.
pub(crate) fn time_zone(contract: Option<&Contract>) -> String {
    contract.map_or_else(|| "Asia/Shanghai".to_string(), |c| c.timezone.clone())
}

/// The daily digest per contractor, when `[notify] digest_at` is set and targets exist.
pub(crate) fn daily_digest(
    ctx: &Context,
    clock: camwatch_core::clock::SharedClock,
) -> Result<Option<camwatch_notify::DailyDigest>> {
    let (notify, targets) = notify_config(&ctx.config)?;
    let time = notify
        .digest_time()
        .map_err(|e| Error::invalid(format!("config [notify] digest_at: {e}")))?;
    let (Some(time), false) = (time, targets.is_empty()) else {
        return Ok(None);
    };
    let tz = time_zone(contract(ctx, None)?.as_ref());
    camwatch_notify::DailyDigest::new(ctx.store.clone(), targets, clock, time, &tz).map(Some)
}

/// The desk, with the contract's SLA rules when one is configured.
pub(crate) fn desk(ctx: &Context, contract_file: Option<&std::path::Path>) -> Result<Desk> {
    let contract = contract(ctx, contract_file)?;
    // Times in messages are the contract's local time.
    let tz = time_zone(contract.as_ref());
    let sla = Sla::new(
        ctx.store.clone(),
        contract,
        ctx.config.workorders.assign.clone(),
    )?;
    Ok(Desk {
        store: ctx.store.clone(),
        sla: Arc::new(sla),
        announcer: announcer(&ctx.config, &tz)?,
    })
}

async fn act(
    ctx: &Context,
    id: i64,
    action: Action,
    now: i64,
    actor: &str,
    note: &str,
) -> Result<ExitCode> {
    let desk = desk(ctx, None)?;
    let o = desk.act(id, &action, now, actor, note).await?;
    println!("work order {}: {}", o.id, o.life.state);
    if o.life.state == State::Repaired {
        println!("the running monitor re-probes its devices to verify the repair");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_attachment(path: &std::path::Path) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    if meta.len() > camwatch_workorder::desk::MAX_ATTACHMENT as u64 {
        return Err(Error::invalid(format!(
            "{}: {} bytes, at most {}",
            path.display(),
            meta.len(),
            camwatch_workorder::desk::MAX_ATTACHMENT
        )));
    }
    std::fs::read(path).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}

/// The media type by content, not by name: JPEG, PNG or PDF; anything else is refused later
/// by whoever serves it, so it is stored as opaque bytes.
fn media_type(b: &[u8]) -> &'static str {
    match b {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'%', b'P', b'D', b'F', ..] => "application/pdf",
        _ => "application/octet-stream",
    }
}

async fn list(ctx: &Context, a: &ListArgs) -> Result<ExitCode> {
    let f = OrderFilter {
        state: a.state,
        open: if a.open {
            Some(true)
        } else if a.closed {
            Some(false)
        } else {
            None
        },
        contractor: a.contractor.clone(),
        region_prefix: a.region.clone(),
        origin: a.origin,
        overdue: a.overdue.then_some(true),
        before_id: a.before,
        limit: Some(a.limit),
        ..OrderFilter::default()
    };
    let orders = ctx.store.list_work_orders(&f).await?;
    if a.json {
        let v: Vec<serde_json::Value> = orders.iter().map(order_json).collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<16}  {:<8}  {:<10}  {:<16}  {:<20}  title",
        "id", "state", "origin", "level", "contractor", "opened"
    );
    for o in &orders {
        let overdue = if o.life.repair_overdue_at.is_some() {
            " [repair overdue]"
        } else if o.life.response_overdue_at.is_some() {
            " [response overdue]"
        } else {
            ""
        };
        println!(
            "{:>6}  {:<16}  {:<8}  {:<10}  {:<16}  {:<20}  {}{overdue}",
            o.id,
            o.life.state.as_str(),
            o.origin.as_str(),
            o.level,
            o.life.contractor.as_deref().unwrap_or("-"),
            camwatch_store::fmt_at(o.opened_at),
            o.title
        );
    }
    if orders.len() as u64 == a.limit
        && let Some(last) = orders.last()
    {
        println!("(more: --before {})", last.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn order_json(o: &WorkOrder) -> serde_json::Value {
    serde_json::json!({
        "id": o.id,
        "subject": o.subject.to_string(),
        "origin": o.origin.as_str(),
        "cause": o.cause.as_ref().map(ToString::to_string),
        "title": o.title,
        "level": o.level,
        "region": o.region,
        "fault_since": o.fault_since,
        "opened_at": o.opened_at,
        "state": o.life.state.as_str(),
        "contractor": o.life.contractor,
        "response_due_at": o.life.response_due_at,
        "repair_due_at": o.life.repair_due_at,
        "accepted_at": o.life.accepted_at,
        "repaired_at": o.life.repaired_at,
        "closed_at": o.life.closed_at,
        "resolution": o.life.resolution.map(|r| r.as_str()),
        "fault_ended_at": o.life.fault_ended_at,
        "response_overdue_at": o.life.response_overdue_at,
        "repair_overdue_at": o.life.repair_overdue_at,
    })
}

async fn show(ctx: &Context, a: &ShowArgs) -> Result<ExitCode> {
    let o = ctx
        .store
        .work_order(a.id)
        .await?
        .ok_or_else(|| Error::not_found(format!("work order {} does not exist", a.id)))?;
    let devices = ctx.store.work_order_devices(a.id).await?;
    let events = ctx.store.work_order_events(a.id).await?;
    let attachments = ctx.store.work_order_attachments(a.id).await?;
    if a.json {
        let mut v = order_json(&o);
        v["devices"] = devices
            .iter()
            .map(|m| serde_json::json!({ "device": m.device.to_string(), "joined_at": m.joined_at, "left_at": m.left_at }))
            .collect();
        v["events"] = events
            .iter()
            .map(|e| serde_json::json!({ "at": e.at, "actor": e.actor, "kind": e.kind.as_str(), "note": e.note, "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default() }))
            .collect();
        v["attachments"] = attachments
            .iter()
            .map(|t| serde_json::json!({ "id": t.id, "at": t.at, "actor": t.actor, "name": t.name, "media_type": t.media_type, "bytes": t.size }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
        return Ok(ExitCode::SUCCESS);
    }
    let at = |t: Option<i64>| t.map_or_else(|| "-".into(), camwatch_store::fmt_at);
    println!("work order {}: {}", o.id, o.title);
    println!(
        "  state       {}{}",
        o.life.state,
        o.life
            .resolution
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    println!(
        "  origin      {}   level {}   region {}",
        o.origin, o.level, o.region
    );
    println!(
        "  contractor  {}",
        o.life.contractor.as_deref().unwrap_or("(unassigned)")
    );
    println!(
        "  fault since {}   ended {}",
        camwatch_store::fmt_at(o.fault_since),
        at(o.life.fault_ended_at)
    );
    println!("  opened      {}", camwatch_store::fmt_at(o.opened_at));
    println!(
        "  respond by  {}   responded {}{}",
        at(o.life.response_due_at),
        at(o.life.accepted_at),
        if o.life.response_overdue_at.is_some() {
            "   OVERDUE"
        } else {
            ""
        }
    );
    println!(
        "  repair by   {}   repaired {}{}",
        at(o.life.repair_due_at),
        at(o.life.repaired_at),
        if o.life.repair_overdue_at.is_some() {
            "   OVERDUE"
        } else {
            ""
        }
    );
    println!("devices:");
    for m in &devices {
        println!(
            "  {}  joined {}  {}",
            m.device,
            camwatch_store::fmt_at(m.joined_at),
            m.left_at
                .map(|t| format!("left {}", camwatch_store::fmt_at(t)))
                .unwrap_or_default()
        );
    }
    println!("history:");
    for e in &events {
        println!(
            "  {}  {:<18} {:<16} {}",
            camwatch_store::fmt_at(e.at),
            e.kind.as_str(),
            e.actor,
            e.note
        );
    }
    for t in &attachments {
        println!(
            "attachment {}: {} ({}, {} bytes) by {} at {}",
            t.id,
            t.name,
            t.media_type,
            t.size,
            t.actor,
            camwatch_store::fmt_at(t.at)
        );
    }
    Ok(ExitCode::SUCCESS)
}
