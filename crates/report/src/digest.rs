//! `input_digest`: SHA-256 over a canonical, order-independent form of everything a report is
//! computed from (period, contract text, register fields that matter, spans, exemptions). Two
//! reports with the same digest were made from the same data; rendering choices (format,
//! language) are not inputs.

use sha2::{Digest, Sha256};

use super::Period;
use camwatch_core::history::Exemption;
use camwatch_core::history::{ExemptionScope, StatusSpan};
use camwatch_core::registry::Device;

pub fn input_digest(
    period: &Period,
    contract_text: &str,
    devices: &[&Device],
    spans: &[StatusSpan],
    exemptions: &[Exemption],
) -> String {
    let mut h = Sha256::new();
    let mut line = |s: &str| {
        h.update(s.as_bytes());
        h.update(b"\n");
    };
    line("camwatch-report-input v1");
    line(&format!(
        "period\t{}\t{}\t{}",
        period.start_at, period.end_at, period.tz_name
    ));
    line(&format!(
        "contract\t{}",
        hex::encode(Sha256::digest(contract_text))
    ));
    // `devices` arrive sorted by code; spans sorted by device and start (see build).
    for d in devices {
        line(&format!(
            "d\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            d.code,
            d.kind.as_str(),
            d.name,
            d.region(),
            d.maintainer.as_deref().unwrap_or(""),
            d.contract_from.map(|x| x.to_string()).unwrap_or_default(),
            d.contract_to.map(|x| x.to_string()).unwrap_or_default(),
            d.monthly_fee_fen.unwrap_or(0),
            d.monthly_link_fee_fen.unwrap_or(0),
            d.parent.map(|p| p.to_string()).unwrap_or_default(),
        ));
    }
    // Millions of lines: one reused buffer instead of a string per span.
    let mut buf = String::with_capacity(128);
    for s in spans {
        use std::fmt::Write as _;
        buf.clear();
        let _ = write!(
            buf,
            "s\t{}\t{}\t{}\t{}\t",
            s.device,
            s.status.as_str(),
            s.start_at,
            s.end_at,
        );
        // The cause's stored text form, so a digest is the same whichever version wrote it.
        if let Some(c) = &s.cause {
            let _ = write!(buf, "{c}");
        }
        line(&buf);
    }
    let mut ex: Vec<&Exemption> = exemptions.iter().collect();
    ex.sort_by_key(|e| (e.id, e.start_at, e.end_at));
    for e in ex {
        let scope = match &e.scope {
            ExemptionScope::Device(c) => format!("device:{c}"),
            ExemptionScope::RegionPrefix(p) => format!("region:{p}"),
        };
        line(&format!(
            "e\t{}\t{scope}\t{}\t{}\t{}\t{}\t{}",
            e.id,
            e.reason.as_str(),
            e.start_at,
            e.end_at,
            e.approved_by,
            e.note
        ));
    }
    hex::encode(h.finalize())
}
