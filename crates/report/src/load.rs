//! Fetches a report's inputs from the store and builds it.

use std::sync::Arc;

use super::{Period, Report, ReportInput, build};
use camwatch_core::contract::Contract;
use camwatch_core::error::{Error, Result};
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
    let open_until = now.min(period.end_at);
    let t = std::time::Instant::now();
    let (mut devices, mut spans, exemptions, work_orders, unconfirmed) = tokio::try_join!(
        async {
            let r = store.list_devices_for_report().await;
            tracing::debug!(
                elapsed_ms = t.elapsed().as_millis() as u64,
                "report: devices read"
            );
            r
        },
        async {
            let r = store
                .spans_overlapping(period.start_at, period.end_at, open_until)
                .await;
            tracing::debug!(
                elapsed_ms = t.elapsed().as_millis() as u64,
                "report: spans read"
            );
            r
        },
        store.exemptions_overlapping(period.start_at, period.end_at),
        store.work_orders_opened(period.start_at, period.end_at),
        store.unconfirmed_codes(),
    )?;
    if !unconfirmed.is_empty() {
        devices.retain(|d| !unconfirmed.contains(&d.code));
        spans.retain(|s| !unconfirmed.contains(&s.device));
    }
    let (period, contract, text) = (period.clone(), contract.clone(), contract_text.to_string());
    // Building is CPU work over possibly millions of spans: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let _log = scopeguard(t);
        let mut report = build(&ReportInput {
            period: &period,
            contract: &contract,
            contract_text: &text,
            devices: &devices,
            spans: &spans,
            exemptions: &exemptions,
            work_orders: &work_orders,
            now,
        });
        if let Ok(r) = &mut report
            && !unconfirmed.is_empty()
        {
            let mut first: Vec<_> = unconfirmed.iter().map(|c| c.to_string()).collect();
            first.sort();
            let more = first.len().saturating_sub(5);
            first.truncate(5);
            r.notes.push(format!(
                "{} channel(s) found by GB/T 28181 catalogs and not yet confirmed are not counted: {}{}",
                unconfirmed.len(),
                first.join(", "),
                if more > 0 { format!(" and {more} more") } else { String::new() }
            ));
        }
        // Freeing millions of spans takes a noticeable moment: not on the caller's path.
        std::thread::spawn(move || drop((devices, spans)));
        report
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
