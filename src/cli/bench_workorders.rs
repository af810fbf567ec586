//! `camwatch bench workorders`: N open and M closed orders over three years in a fresh
//! database, then the queries a console and the monthly report make: filtered list pages and
//! a month's statistics, each timed over repeated runs (median and slowest), on SQLite and,
//! with --pg, on PostgreSQL.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use camwatch_core::error::Result;
use camwatch_core::registry::DeviceCode;
use camwatch_core::secret::SecretKey;
use camwatch_core::workorder::stats::{OrderFacts, stats};
use camwatch_core::workorder::{Lifecycle, Origin, Resolution, State};
use camwatch_store::Store;
use camwatch_store::workorders::{OrderFilter, WorkOrder};

/// 2024-01-01T00:00:00+08:00: three years of orders from here.
const FROM: i64 = 1_704_038_400;
const YEARS_SEC: i64 = 3 * 365 * 86_400;
/// October 2026 in Asia/Shanghai, the month whose statistics are timed.
const MONTH: (i64, i64) = (1_790_784_000, 1_793_462_400);
const CONTRACTORS: u64 = 20;
const REGIONS: u64 = 60;
const RUNS: usize = 21;

pub async fn run(open: u64, closed: u64, pg: Option<&str>) -> Result<ExitCode> {
    let dir = super::bench::tempfile_dir()?;
    println!("work orders: {open} open, {closed} closed over three years");
    let orders = generate(open, closed);
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let ok = measure("sqlite", &url, &orders).await?;
    let mut all_ok = ok;
    if let Some(base) = pg {
        let db = super::bench::ScratchDb::create(base).await?;
        let r = measure("postgres", &db.url, &orders).await;
        db.drop_it().await;
        all_ok &= r?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        super::exit::Exit::OutsideBar.into()
    })
}

/// Deterministic orders: `closed` spread evenly over three years, then `open` in the last
/// weeks; 20 contractors, 60 districts, a fifth of them late.
fn generate(open: u64, closed: u64) -> Vec<(WorkOrder, Vec<DeviceCode>)> {
    let total = open + closed;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..total)
        .map(|i| {
            let r = next();
            let is_open = i >= closed;
            let opened_at = if is_open {
                FROM + YEARS_SEC - 30 * 86_400
                    + (i - closed) as i64 * (30 * 86_400) / open.max(1) as i64
            } else {
                FROM + i as i64 * (YEARS_SEC - 30 * 86_400) / closed.max(1) as i64
            };
            let region = format!("3401{:02}", r % REGIONS);
            let contractor = format!("运维单位{:02}", (r >> 8) % CONTRACTORS);
            let late = (r >> 16) % 5 == 0;
            let respond = if late {
                1500
            } else {
                300 + (r >> 20) as i64 % 900
            };
            let repair = if late {
                9000
            } else {
                1800 + (r >> 30) as i64 % 5000
            };
            let mut life = Lifecycle {
                contractor: Some(contractor),
                response_due_at: Some(opened_at + 1200),
                repair_due_at: Some(opened_at + 7200),
                ..Lifecycle::default()
            };
            if late {
                life.response_overdue_at = life.response_due_at;
                life.repair_overdue_at = life.repair_due_at;
            }
            if is_open {
                life.state = if (r >> 40) % 2 == 0 {
                    State::Pending
                } else {
                    State::Accepted
                };
                if life.state == State::Accepted {
                    life.accepted_at = Some(opened_at + respond);
                }
            } else {
                life.state = State::Closed;
                life.accepted_at = Some(opened_at + respond);
                life.repaired_at = Some(opened_at + repair);
                life.closed_at = Some(opened_at + repair + 3600);
                life.resolution = Some(Resolution::Repaired);
            }
            let code: DeviceCode = format!("{region}00001320{:06}", i % 1_000_000)
                .parse()
                .expect("a generated code is valid");
            let order = WorkOrder {
                id: 0,
                subject: code,
                origin: if r % 7 == 0 {
                    Origin::Picture
                } else {
                    Origin::Outage
                },
                cause: None,
                title: format!("离线：点位{i}"),
                level: if r % 11 == 0 { "重大" } else { "一般" }.into(),
                region,
                fault_since: opened_at - 600,
                opened_at,
                life,
                version: 0,
            };
            (order, vec![code])
        })
        .collect()
}

/// Fills a fresh store at `url` and times the queries; false when one misses its bar.
async fn measure(
    backend: &str,
    url: &str,
    orders: &[(WorkOrder, Vec<DeviceCode>)],
) -> Result<bool> {
    let store: Arc<dyn Store> = camwatch_store::connect(url, SecretKey::generate()).await?;
    let t = Instant::now();
    store.import_work_orders(orders, "bench").await?;
    println!("{backend:<9} filled in {:.1} s", t.elapsed().as_secs_f64());
    let page = |f: OrderFilter| OrderFilter {
        limit: Some(50),
        ..f
    };
    let cases: Vec<(&str, OrderFilter)> = vec![
        (
            "open orders, newest page",
            page(OrderFilter {
                open: Some(true),
                ..Default::default()
            }),
        ),
        (
            "one contractor's open orders",
            page(OrderFilter {
                open: Some(true),
                contractor: Some("运维单位07".into()),
                ..Default::default()
            }),
        ),
        (
            "overdue open orders",
            page(OrderFilter {
                open: Some(true),
                overdue: Some(true),
                ..Default::default()
            }),
        ),
        (
            "one district, all orders",
            page(OrderFilter {
                region_prefix: Some("340117".into()),
                ..Default::default()
            }),
        ),
        (
            "one contractor, one month",
            page(OrderFilter {
                contractor: Some("运维单位03".into()),
                opened_from: Some(MONTH.0),
                opened_to: Some(MONTH.1),
                ..Default::default()
            }),
        ),
    ];
    let mut ok = true;
    for (what, f) in cases {
        let (n, median, worst) = timed(|| {
            let (store, f) = (store.clone(), f.clone());
            async move { store.list_work_orders(&f).await.map(|v| v.len()) }
        })
        .await?;
        ok &= worst < 100.0;
        println!(
            "{backend:<9} list {what:<30} {n:>3} rows  median {median:.1} ms, slowest {worst:.1} ms (bar < 100 ms)"
        );
    }
    let now = FROM + YEARS_SEC;
    let (n, median, worst) = timed(|| {
        let store = store.clone();
        async move {
            let v = store.work_orders_opened(MONTH.0, MONTH.1).await?;
            let facts: Vec<OrderFacts> = v
                .iter()
                .map(|o| OrderFacts {
                    id: o.id,
                    level: &o.level,
                    origin: o.origin,
                    contractor: o.life.contractor.as_deref(),
                    region: &o.region,
                    opened_at: o.opened_at,
                    life: &o.life,
                })
                .collect();
            let s = stats(&facts, now);
            Ok(s.all.orders as usize)
        }
    })
    .await?;
    ok &= worst < 100.0;
    println!(
        "{backend:<9} statistics of one month ({n} orders): median {median:.1} ms, slowest {worst:.1} ms (bar < 100 ms)"
    );
    Ok(ok)
}

/// Runs `f` RUNS times (after one warm-up): (its result, median ms, slowest ms).
async fn timed<F, Fut>(f: F) -> Result<(usize, f64, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let n = f().await?;
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        f().await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((n, ms[RUNS / 2], ms[RUNS - 1]))
}
