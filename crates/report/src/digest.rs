//! `input_digest`: SHA-256 over a canonical, order-independent form of everything a report is
//! computed from (period, contract text, register fields that matter, spans, exemptions, work
//! orders and the instant they were judged at, see `orders::decisive_now`). Two
//! reports with the same digest were made from the same data; rendering choices (format,
//! language) are not inputs.

use sha2::{Digest, Sha256};

use super::Period;
use camwatch_core::history::Exemption;
use camwatch_core::history::StatusSpan;
use camwatch_core::registry::Device;
use camwatch_store::workorders::WorkOrder;

pub fn input_digest(
    period: &Period,
    contract_text: &str,
    devices: &[&Device],
    spans: &[StatusSpan],
    exemptions: &[Exemption],
    orders: &[WorkOrder],
    judged_at: Option<i64>,
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
    // Millions of lines: one reused buffer instead of a string per span, the numbers written
    // by `itoa` (the same digits as `Display`, without the formatting machinery: that was half
    // of this digest's time at 6 M spans).
    let mut buf = String::with_capacity(128);
    let mut num = itoa::Buffer::new();
    for s in spans {
        use std::fmt::Write as _;
        buf.clear();
        buf.push_str("s\t");
        buf.push_str(s.device.as_str());
        buf.push('\t');
        buf.push_str(s.status.as_str());
        buf.push('\t');
        buf.push_str(num.format(s.start_at));
        buf.push('\t');
        buf.push_str(num.format(s.end_at));
        buf.push('\t');
        // The cause's stored text form, so a digest is the same whichever version wrote it.
        if let Some(c) = &s.cause {
            let _ = write!(buf, "{c}");
        }
        line(&buf);
    }
    let mut ex: Vec<&Exemption> = exemptions.iter().collect();
    ex.sort_by_key(|e| (e.id, e.start_at, e.end_at));
    for e in ex {
        let scope = &e.scope;
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
    // Work orders only when there are some, so the digest of a report without orders is what
    // it was before reports had a work-order section.
    if !orders.is_empty() {
        let t = |x: Option<i64>| x.map(|x| x.to_string()).unwrap_or_default();
        let mut os: Vec<&WorkOrder> = orders.iter().collect();
        os.sort_by_key(|o| o.id);
        for o in os {
            let l = &o.life;
            line(&format!(
                "o\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                o.id,
                l.state.as_str(),
                o.level,
                o.origin.as_str(),
                l.contractor.as_deref().unwrap_or(""),
                o.region,
                o.subject,
                o.opened_at,
                t(l.response_due_at),
                t(l.repair_due_at),
                t(l.accepted_at),
                t(l.repaired_at),
                t(l.closed_at),
                l.resolution.map(|r| r.as_str()).unwrap_or(""),
                t(l.fault_ended_at),
                t(l.response_overdue_at),
                t(l.repair_overdue_at),
                o.title,
            ));
        }
        // The instant the deadlines were judged at, capped after the last one (see orders.rs).
        line(&format!("now\t{}", t(judged_at)));
    }
    hex::encode(h.finalize())
}
