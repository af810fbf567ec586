//! Fetches a report's inputs from the store and builds it.

use std::sync::Arc;

use super::{Period, Report, ReportInput, build};
use crate::contract::Contract;
use crate::error::{Error, Result};
use crate::store::{DeviceFilter, Store};

/// Builds the report for `period` from what `store` holds. `now` bounds open spans: a device's
/// current status counts until `now`, and time after `now` is unknown (a report on the running
/// month shows the month so far).
pub async fn load(
    store: &Arc<dyn Store>,
    period: &Period,
    contract: &Contract,
    contract_text: &str,
    now: i64,
) -> Result<Report> {
    let open_until = now.min(period.end_at);
    let all = DeviceFilter::default();
    let (devices, spans, exemptions) = tokio::try_join!(
        store.list_devices(&all),
        store.spans_overlapping(period.start_at, period.end_at, open_until),
        store.exemptions_overlapping(period.start_at, period.end_at),
    )?;
    let (period, contract, text) = (period.clone(), contract.clone(), contract_text.to_string());
    // Building is CPU work over possibly millions of spans: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        build(&ReportInput {
            period: &period,
            contract: &contract,
            contract_text: &text,
            devices: &devices,
            spans: &spans,
            exemptions: &exemptions,
        })
    })
    .await
    .map_err(|e| Error::internal(format!("report task: {e}")))?
}
