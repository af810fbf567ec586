//! Fetches a report's inputs from the store and builds it.

use std::borrow::Cow;
use std::sync::Arc;

use super::{Month, Period, Report, ReportInput, Subset, build};
use camwatch_core::calendar::WorkCalendar;
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
use camwatch_core::patrol::PlanRules;
use camwatch_core::registry::Device;
use camwatch_store::Store;

/// Builds the report for `period` from what `store` holds. `now` bounds open spans: a device's
/// current status counts until `now`, and time after `now` is unknown (a report on the running
/// month shows the month so far). Work orders are those opened in the period, as they stand at
/// `now`.
pub async fn load(
    store: &Arc<dyn Store>,
    period: &Period,
    contract: &Contract,
    contract_text: &str,
    now: i64,
) -> Result<Report> {
    load_subset(store, period, contract, contract_text, now, None).await
}

/// [`load`] of part of the fleet (`None`: the whole fleet): see [`Subset`].
pub async fn load_subset(
    store: &Arc<dyn Store>,
    period: &Period,
    contract: &Contract,
    contract_text: &str,
    now: i64,
    subset: Option<&Subset>,
) -> Result<Report> {
    load_with_patrol(store, period, contract, contract_text, now, subset, None).await
}

/// The month's patrol section, asked of [`load_with_patrol`].
#[derive(Debug, Clone)]
pub struct PatrolAsk {
    pub month: Month,
    pub calendar: WorkCalendar,
    pub rules: PlanRules,
}

/// [`load_subset`] with the month's patrol section attached when `patrol` asks for it (as
/// [`load_patrol`](super::patrol::load_patrol) makes it), from the same read of the register:
/// reading 300,000 devices twice cost the monthly report about a second.
pub async fn load_with_patrol(
    store: &Arc<dyn Store>,
    period: &Period,
    contract: &Contract,
    contract_text: &str,
    now: i64,
    subset: Option<&Subset>,
    patrol: Option<PatrolAsk>,
) -> Result<Report> {
    let mut v = load_inner(
        store,
        std::slice::from_ref(period),
        contract,
        contract_text,
        now,
        subset,
        patrol,
    )
    .await?;
    Ok(v.pop().expect("one report per period"))
}

/// One report per period (in order; e.g. the days of a trend), from one read of the store
/// covering them all: each has the figures [`load_subset`] gives for that period alone (its
/// input digest covers the spans of that read that touch the period).
pub async fn load_periods(
    store: &Arc<dyn Store>,
    periods: &[Period],
    contract: &Contract,
    contract_text: &str,
    now: i64,
    subset: Option<&Subset>,
) -> Result<Vec<Report>> {
    load_inner(store, periods, contract, contract_text, now, subset, None).await
}

async fn load_inner(
    store: &Arc<dyn Store>,
    periods: &[Period],
    contract: &Contract,
    contract_text: &str,
    now: i64,
    subset: Option<&Subset>,
    patrol: Option<PatrolAsk>,
) -> Result<Vec<Report>> {
    let (Some(start), Some(end)) = (
        periods.iter().map(|p| p.start_at).min(),
        periods.iter().map(|p| p.end_at).max(),
    ) else {
        return Ok(Vec::new());
    };
    let open_until = now.min(end);
    let t = std::time::Instant::now();
    let (devices, mut spans, exemptions, mut work_orders, unconfirmed, records) = tokio::try_join!(
        async {
            let r = store.list_devices_for_report().await;
            tracing::debug!(
                elapsed_ms = t.elapsed().as_millis() as u64,
                "report: devices read"
            );
            r
        },
        async {
            let r = store.spans_overlapping(start, end, open_until).await;
            tracing::debug!(
                elapsed_ms = t.elapsed().as_millis() as u64,
                "report: spans read"
            );
            r
        },
        store.exemptions_overlapping(start, end),
        store.work_orders_opened(start, end),
        store.unconfirmed_codes(),
        async {
            match &patrol {
                Some(a) => {
                    let (from, to) = super::patrol::month_days(a.month);
                    store.patrol_records(from, to).await.map(Some)
                }
                None => Ok(None),
            }
        },
    )?;
    let unconfirmed_note = (!unconfirmed.is_empty()).then(|| {
        let mut first: Vec<_> = unconfirmed.iter().map(|c| c.to_string()).collect();
        first.sort();
        let more = first.len().saturating_sub(5);
        first.truncate(5);
        format!(
            "{} channel(s) found by GB/T 28181 catalogs and not yet confirmed are not counted: {}{}",
            unconfirmed.len(),
            first.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    });
    let periods = periods.to_vec();
    let (contract, text) = (contract.clone(), contract_text.to_string());
    let subset = subset.cloned();
    // Building is CPU work over possibly millions of spans: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let _log = scopeguard(t);
        let reports = std::thread::scope(|sc| {
            // The patrol section from the register as read (it names and counts channels the
            // catalogs added too, as `load_patrol` does), on a thread of its own: it needs
            // none of the spans, and beside the build it fills the moments the build runs on
            // one core (0.3 s of the 300,000-channel report).
            let patrol = match (patrol, records) {
                (Some(a), Some(records)) => {
                    let (devices, unconfirmed, subset) = (&devices, &unconfirmed, &subset);
                    Some(sc.spawn(move || {
                        let t = std::time::Instant::now();
                        let section = super::patrol::from_register(
                            devices,
                            unconfirmed,
                            records,
                            subset.as_ref(),
                            a.month,
                            &a.calendar,
                            a.rules,
                            now,
                        );
                        tracing::debug!(
                            elapsed_ms = t.elapsed().as_millis() as u64,
                            "report: patrol section"
                        );
                        section
                    }))
                }
                _ => None,
            };
            // The devices counted: all of them, unless some are left out below.
            let mut counted: Cow<'_, [Device]> = Cow::Borrowed(&devices);
            // Channels a GB/T 28181 catalog added and no operator has confirmed are no
            // contract points.
            if !unconfirmed.is_empty() {
                counted.to_mut().retain(|d| !unconfirmed.contains(&d.code));
                spans.retain(|s| !unconfirmed.contains(&s.device));
            }
            if let Some(s) = &subset {
                s.restrict(counted.to_mut(), &mut spans, &mut work_orders);
            }
            let reports = periods
                .iter()
                .map(|period| {
                    // Spans are cut at `now` once; `build` clips them to each period.
                    let own: Vec<_>;
                    let spans = if periods.len() == 1 {
                        &spans[..]
                    } else {
                        own = spans
                            .iter()
                            .filter(|s| s.start_at < period.end_at && s.end_at > period.start_at)
                            .cloned()
                            .collect();
                        &own[..]
                    };
                    let orders: Vec<_> = work_orders
                        .iter()
                        .filter(|o| o.opened_at >= period.start_at && o.opened_at < period.end_at)
                        .cloned()
                        .collect();
                    let mut report = build(&ReportInput {
                        period,
                        contract: &contract,
                        contract_text: &text,
                        devices: &counted,
                        spans,
                        exemptions: &exemptions,
                        work_orders: &orders,
                        now,
                    })?;
                    if let Some(n) = &unconfirmed_note {
                        report.notes.push(n.clone());
                    }
                    if let Some(s) = &subset {
                        s.withhold_fleet_lines(&mut report);
                    }
                    Ok(report)
                })
                .collect::<Result<Vec<_>>>();
            let patrol = patrol
                .map(|h| {
                    h.join()
                        .map_err(|_| Error::internal("the patrol section's thread panicked"))?
                })
                .transpose()?;
            let mut reports = reports?;
            for r in &mut reports {
                r.patrol.clone_from(&patrol);
            }
            Ok::<_, Error>(reports)
        });
        // Freeing millions of spans takes a noticeable moment: not on the caller's path.
        std::thread::spawn(move || drop((devices, spans)));
        reports
    })
    .await
    .map_err(|e| Error::internal(format!("report task: {e}")))?
}

/// Logs the build time when dropped (at debug level: `RUST_LOG=camwatch=debug`).
fn scopeguard(t: std::time::Instant) -> impl Drop {
    struct G(std::time::Instant);
    impl Drop for G {
        fn drop(&mut self) {
            tracing::debug!(
                elapsed_ms = self.0.elapsed().as_millis() as u64,
                "report: built"
            );
        }
    }
    G(t)
}
