//! The report in the formats people use: JSON (the canonical form), CSV (sections separated by a
//! blank line, each with its own header row; opens in Excel/WPS with Chinese text intact thanks
//! to the BOM), XLSX (what auditors sign: summary, devices, deductions, exemptions and work-order
//! sheets) and self-contained HTML that prints cleanly on A4. All carry the same content; only JSON is
//! byte-for-byte canonical.

mod charts;
mod csv;
mod html;
mod labels;
mod xlsx;

use std::str::FromStr;

use super::Report;
use camwatch_core::error::Result;

pub use labels::Lang;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
    Html,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Html => "html",
        }
    }
    pub fn is_binary(self) -> bool {
        self == Self::Xlsx
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            "xlsx" => Ok(Self::Xlsx),
            "html" => Ok(Self::Html),
            o => Err(format!(
                "unknown format {o:?} (expected json, csv, xlsx or html)"
            )),
        }
    }
}

/// Writes `r` as `format` to `out`. JSON is written as it is serialised
/// ([`Report::write_json`]); the other formats are made whole first.
pub fn render_to(
    r: &Report,
    format: Format,
    lang: Lang,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let io = |e: std::io::Error| {
        camwatch_core::error::Error::invalid(format!("writing the report: {e}"))
    };
    match format {
        Format::Json => r.write_json(out).map_err(|e| match e.io_error_kind() {
            Some(_) => io(e.into()),
            None => camwatch_core::error::Error::internal(format!("the report as JSON: {e}")),
        }),
        _ => out.write_all(&render(r, format, lang)?).map_err(io),
    }
}

pub fn render(r: &Report, format: Format, lang: Lang) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Json => r.to_json().into_bytes(),
        Format::Csv => csv::render(r, lang)?,
        Format::Xlsx => xlsx::render(r, lang)?,
        Format::Html => html::render(r, lang).into_bytes(),
    })
}

/// A rate as a percentage with 4 places, empty when undefined.
pub(crate) fn pct(r: Option<f64>) -> String {
    r.map(|x| format!("{:.4}", x * 100.0)).unwrap_or_default()
}

/// The table rows every format shares, as text cells, so formats cannot drift apart.
pub(crate) mod tables {
    use super::super::{DeviceRow, OrderFigures, OrderGroup, Report, Rollup, Totals};
    use super::labels::{Lang, t};
    use super::pct;

    pub fn summary(r: &Report, l: Lang) -> Vec<[String; 2]> {
        let f = &r.fleet;
        let mut v = vec![
            [t("month", l), r.month.clone()],
            [t("contract", l), r.contract.clone()],
            [t("timezone", l), r.timezone.clone()],
            [t("method", l), r.method.clone()],
            [t("period_from", l), r.period_from.clone()],
            [t("period_to", l), r.period_to.clone()],
            [t("period_hours", l), format!("{:.4}", r.period_hours)],
            [t("unknown_treatment", l), r.unknown_treatment.clone()],
            [t("devices", l), f.devices.to_string()],
            [t("eligible_hours", l), format!("{:.4}", f.eligible_hours)],
            [t("online_hours", l), format!("{:.4}", f.online_hours)],
            [t("degraded_hours", l), format!("{:.4}", f.degraded_hours)],
            [t("offline_hours", l), format!("{:.4}", f.offline_hours)],
            [t("exempt_hours", l), format!("{:.4}", f.exempt_hours)],
            [t("unknown_hours", l), format!("{:.4}", f.unknown_hours)],
            [t("online_rate", l), pct(f.online_rate)],
            [t("intact_rate", l), pct(f.intact_rate)],
            [
                t("maintenance_fee_base", l),
                format!("{:.2}", r.maintenance_fee_base),
            ],
            [t("link_fee_base", l), format!("{:.2}", r.link_fee_base)],
        ];
        if let Some(s) = &r.scope {
            v.insert(1, [t("report_scope", l), s.clone()]);
        }
        if let Some(s) = r.score {
            v.push([t("score", l), format!("{s:.2}")]);
        }
        v.push([t("total_deduction", l), format!("{:.2}", r.total_deduction)]);
        v.push([t("input_digest", l), r.input_digest.clone()]);
        v
    }

    /// The region table: the rollup's columns with the region's name after its code.
    pub const REGION_COLS: [&str; 13] = [
        "key",
        "region_name",
        "devices",
        "eligible_hours",
        "online_hours",
        "degraded_hours",
        "offline_hours",
        "exempt_hours",
        "unknown_hours",
        "online_rate",
        "intact_rate",
        "devices_over_offline_limit",
        "device_deductions",
    ];

    pub const ROLLUP_COLS: [&str; 12] = [
        "key",
        "devices",
        "eligible_hours",
        "online_hours",
        "degraded_hours",
        "offline_hours",
        "exempt_hours",
        "unknown_hours",
        "online_rate",
        "intact_rate",
        "devices_over_offline_limit",
        "device_deductions",
    ];

    fn totals_cells(t: &Totals) -> [String; 9] {
        [
            t.devices.to_string(),
            format!("{:.4}", t.eligible_hours),
            format!("{:.4}", t.online_hours),
            format!("{:.4}", t.degraded_hours),
            format!("{:.4}", t.offline_hours),
            format!("{:.4}", t.exempt_hours),
            format!("{:.4}", t.unknown_hours),
            pct(t.online_rate),
            pct(t.intact_rate),
        ]
    }

    /// A rollup row; `named`: with the group's name after its key (regions).
    pub fn rollup(r: &Rollup, named: bool) -> Vec<String> {
        let mut v = vec![r.key.clone()];
        if named {
            v.push(r.name.clone().unwrap_or_default());
        }
        v.extend(totals_cells(&r.totals));
        v.push(r.devices_over_offline_limit.to_string());
        v.push(format!("{:.2}", r.device_deductions));
        v
    }

    pub const DEVICE_COLS: [&str; 18] = [
        "code",
        "name",
        "region",
        "contractor",
        "eligible_from",
        "eligible_to",
        "eligible_hours",
        "online_hours",
        "degraded_hours",
        "offline_hours",
        "exempt_hours",
        "unknown_hours",
        "online_rate",
        "intact_rate",
        "outages",
        "longest_outage_hours",
        "over_offline_limit",
        "deduction",
    ];

    pub fn device(d: &DeviceRow, l: Lang) -> Vec<String> {
        vec![
            d.code.clone(),
            d.name.clone(),
            d.region.clone(),
            d.contractor.clone(),
            d.eligible_from.clone(),
            d.eligible_to.clone(),
            format!("{:.4}", d.eligible_hours),
            format!("{:.4}", d.online_hours),
            format!("{:.4}", d.degraded_hours),
            format!("{:.4}", d.offline_hours),
            format!("{:.4}", d.exempt_hours),
            format!("{:.4}", d.unknown_hours),
            pct(d.online_rate),
            pct(d.intact_rate),
            d.outages.to_string(),
            format!("{:.4}", d.longest_outage_hours),
            t(if d.over_offline_limit { "yes" } else { "no" }, l),
            format!("{:.2}", d.deduction),
        ]
    }

    pub const DEDUCTION_COLS: [&str; 5] = ["rule", "device", "work_order", "amount", "basis"];

    pub fn deductions(r: &Report, l: Lang) -> Vec<Vec<String>> {
        let mut v: Vec<Vec<String>> = r
            .deductions
            .iter()
            .map(|d| {
                vec![
                    t(&d.rule, l),
                    d.device.clone().unwrap_or_else(|| t("fleet", l)),
                    d.order.map(|o| o.to_string()).unwrap_or_default(),
                    format!("{:.2}", d.amount),
                    d.basis.clone(),
                ]
            })
            .collect();
        v.push(vec![
            t("total_deduction", l),
            String::new(),
            String::new(),
            format!("{:.2}", r.total_deduction),
            String::new(),
        ]);
        v
    }

    pub const EXEMPTION_COLS: [&str; 9] = [
        "id",
        "scope",
        "reason",
        "from",
        "to",
        "approved_by",
        "note",
        "devices",
        "device_hours",
    ];

    pub fn exemptions(r: &Report, l: Lang) -> Vec<Vec<String>> {
        r.exemptions
            .iter()
            .map(|e| {
                vec![
                    e.id.to_string(),
                    e.scope.clone(),
                    t(&e.reason, l),
                    e.from.clone(),
                    e.to.clone(),
                    e.approved_by.clone(),
                    e.note.clone(),
                    e.devices.to_string(),
                    format!("{:.4}", e.device_hours),
                ]
            })
            .collect()
    }

    /// Minutes with 2 places, empty when there is nothing to average.
    fn minutes(m: Option<f64>) -> String {
        m.map(|x| format!("{x:.2}")).unwrap_or_default()
    }

    /// A percentage (already ×100) with 4 places, empty when nothing was decided.
    fn percent(p: Option<f64>) -> String {
        p.map(|x| format!("{x:.4}")).unwrap_or_default()
    }

    pub fn order_summary(r: &Report, l: Lang) -> Vec<[String; 2]> {
        let w = &r.work_orders;
        let mut v: Vec<[String; 2]> = ORDER_COLS[1..]
            .iter()
            .zip(order_figures(&w.all))
            .map(|(k, v)| [t(k, l), v])
            .collect();
        v.push([t("overdue_orders", l), w.overdue.len().to_string()]);
        v
    }

    pub const ORDER_COLS: [&str; 15] = [
        "key",
        "orders",
        "open_orders",
        "response_count",
        "response_mean_minutes",
        "response_p90_minutes",
        "repair_count",
        "repair_mean_minutes",
        "repair_p90_minutes",
        "response_met",
        "response_missed",
        "response_sla_percent",
        "repair_met",
        "repair_missed",
        "repair_sla_percent",
    ];

    fn order_figures(f: &OrderFigures) -> [String; 14] {
        [
            f.orders.to_string(),
            f.open.to_string(),
            f.response.count.to_string(),
            minutes(f.response.mean_minutes),
            minutes(f.response.p90_minutes),
            f.repair.count.to_string(),
            minutes(f.repair.mean_minutes),
            minutes(f.repair.p90_minutes),
            f.response_sla.met.to_string(),
            f.response_sla.missed.to_string(),
            percent(f.response_sla.percent),
            f.repair_sla.met.to_string(),
            f.repair_sla.missed.to_string(),
            percent(f.repair_sla.percent),
        ]
    }

    pub const STATE_COLS: [&str; 2] = ["state", "orders"];

    pub fn order_states(r: &Report, l: Lang) -> Vec<Vec<String>> {
        r.work_orders
            .by_state
            .iter()
            .map(|s| vec![t(&format!("state_{}", s.state), l), s.orders.to_string()])
            .collect()
    }

    /// The grouped tables, each with its title: by level, fault kind, contractor and region.
    /// Levels, contractors and regions are users' text and shown as they are; fault kinds are
    /// translated; an unassigned contractor is named so.
    pub fn order_groups(r: &Report, l: Lang) -> Vec<(&'static str, Vec<Vec<String>>)> {
        let w = &r.work_orders;
        let rows = |g: &[OrderGroup], key: &dyn Fn(&str) -> String| -> Vec<Vec<String>> {
            g.iter()
                .map(|g| {
                    let mut v = vec![key(&g.key)];
                    v.extend(order_figures(&g.figures));
                    v
                })
                .collect()
        };
        vec![
            ("orders_by_level", rows(&w.by_level, &|k| k.to_string())),
            (
                "orders_by_origin",
                rows(&w.by_origin, &|k| t(&format!("origin_{k}"), l)),
            ),
            (
                "orders_by_contractor",
                rows(&w.by_contractor, &|k| {
                    if k.is_empty() {
                        t("unassigned", l)
                    } else {
                        k.to_string()
                    }
                }),
            ),
            ("orders_by_region", rows(&w.by_region, &|k| k.to_string())),
        ]
    }

    pub const OVERDUE_COLS: [&str; 13] = [
        "id",
        "order_title",
        "level",
        "origin",
        "contractor",
        "region",
        "state",
        "opened",
        "response_due",
        "responded",
        "repair_due",
        "repaired",
        "missed",
    ];

    pub fn overdue(r: &Report, l: Lang) -> Vec<Vec<String>> {
        r.work_orders
            .overdue
            .iter()
            .map(|o| {
                vec![
                    o.id.to_string(),
                    o.title.clone(),
                    o.level.clone(),
                    t(&format!("origin_{}", o.origin), l),
                    o.contractor.clone(),
                    o.region.clone(),
                    t(&format!("state_{}", o.state), l),
                    o.opened.clone(),
                    o.response_due.clone(),
                    o.responded.clone(),
                    o.repair_due.clone(),
                    o.repaired.clone(),
                    t(&format!("missed_{}", o.missed), l),
                ]
            })
            .collect()
    }

    /// The patrol section's summary rows (empty without a section).
    pub fn patrol_summary(r: &Report, l: Lang) -> Vec<[String; 2]> {
        let Some(p) = &r.patrol else {
            return Vec::new();
        };
        vec![
            [t("patrol_daily_quota", l), p.daily_quota.to_string()],
            [t("patrol_cycle_days", l), p.cycle_days.to_string()],
            [t("patrol_fleet", l), p.fleet.to_string()],
            [
                t("patrol_required_per_day", l),
                p.required_per_day.to_string(),
            ],
            [t("patrol_working_days", l), p.working_days.to_string()],
            [
                t("patrol_planned_channels", l),
                p.planned_channels.to_string(),
            ],
            [t("patrol_planned_visits", l), p.planned_visits.to_string()],
            [
                t("patrol_patrolled_channels", l),
                p.patrolled_channels.to_string(),
            ],
            [
                t("patrol_patrolled_visits", l),
                p.patrolled_visits.to_string(),
            ],
            [t("patrol_planned_done", l), p.planned_done.to_string()],
            [t("patrol_coverage", l), pct(p.coverage)],
            [t("patrol_plan_completion", l), pct(p.plan_completion)],
            [t("patrol_faults", l), p.faults.to_string()],
            [
                t("patrol_quota_missed", l),
                p.quota_missed_days.len().to_string(),
            ],
            [t("patrol_records", l), p.records.to_string()],
            [t("patrol_records_digest", l), p.records_digest.clone()],
        ]
    }

    pub const PATROL_DAY_COLS: [&str; 5] = [
        "patrol_day",
        "patrol_planned",
        "patrol_patrolled",
        "patrol_day_faults",
        "patrol_met_quota",
    ];

    pub fn patrol_days(r: &Report, l: Lang) -> Vec<Vec<String>> {
        let Some(p) = &r.patrol else {
            return Vec::new();
        };
        p.days
            .iter()
            .map(|d| {
                vec![
                    d.day.clone(),
                    d.planned.to_string(),
                    d.patrolled.to_string(),
                    d.faults.to_string(),
                    t(
                        match d.met_quota {
                            Some(true) => "yes",
                            Some(false) => "no",
                            None => "patrol_in_progress",
                        },
                        l,
                    ),
                ]
            })
            .collect()
    }

    pub const PATROLLER_COLS: [&str; 5] = [
        "patrol_patroller",
        "patrol_channel_days",
        "patrol_channels",
        "patrol_day_faults",
        "patrol_days_active",
    ];

    pub fn patrol_patrollers(r: &Report) -> Vec<Vec<String>> {
        let Some(p) = &r.patrol else {
            return Vec::new();
        };
        p.patrollers
            .iter()
            .map(|p| {
                vec![
                    p.patroller.clone(),
                    p.records.to_string(),
                    p.channels.to_string(),
                    p.faults.to_string(),
                    p.days.to_string(),
                ]
            })
            .collect()
    }

    pub const FINDING_COLS: [&str; 9] = [
        "patrol_day",
        "patrol_device",
        "patrol_name",
        "patrol_region",
        "patrol_finding",
        "patrol_work_order",
        "patrol_patroller",
        "patrol_note",
        "patrol_recorded",
    ];

    pub fn patrol_findings(r: &Report, l: Lang) -> Vec<Vec<String>> {
        let Some(p) = &r.patrol else {
            return Vec::new();
        };
        p.findings
            .iter()
            .map(|f| {
                vec![
                    f.day.clone(),
                    f.device.clone(),
                    f.name.clone(),
                    f.region.clone(),
                    t(&format!("finding_{}", f.finding), l),
                    f.work_order.map(|o| o.to_string()).unwrap_or_default(),
                    f.patroller.clone(),
                    f.note.clone(),
                    f.recorded.clone(),
                ]
            })
            .collect()
    }

    pub const DAILY_COLS: [&str; 3] = ["date", "online_rate", "intact_rate"];

    pub fn daily(r: &Report) -> Vec<Vec<String>> {
        r.daily
            .iter()
            .map(|d| vec![d.date.clone(), pct(d.online_rate), pct(d.intact_rate)])
            .collect()
    }

    pub const CAUSE_COLS: [&str; 3] = ["cause", "offline_hours", "cause_devices"];

    /// A cause family in words; the family itself for one this version has no words for.
    pub fn cause_label(family: &str, l: Lang) -> String {
        let key = format!("cause_{family}");
        let s = t(&key, l);
        if s == key { family.to_string() } else { s }
    }

    pub fn causes(r: &Report, l: Lang) -> Vec<Vec<String>> {
        r.outage_causes
            .iter()
            .map(|c| {
                vec![
                    cause_label(&c.cause, l),
                    format!("{:.4}", c.offline_hours),
                    c.devices.to_string(),
                ]
            })
            .collect()
    }

    /// Groups by online rate, lowest first (groups with no rate last), then by key: the
    /// ranking the charts show.
    pub fn ranked(groups: &[Rollup]) -> Vec<&Rollup> {
        let mut v: Vec<&Rollup> = groups.iter().collect();
        v.sort_by(|a, b| match (a.totals.online_rate, b.totals.online_rate) {
            (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.key.cmp(&b.key)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.key.cmp(&b.key),
        });
        v
    }

    /// A group as a chart names it: a region's name and code, a contractor's name.
    pub fn group_label(g: &Rollup, l: Lang) -> String {
        match (&g.name, g.key.is_empty()) {
            (Some(n), _) => format!("{n} {}", g.key),
            (None, true) => t("unassigned", l),
            (None, false) => g.key.clone(),
        }
    }

    pub fn header(cols: &[&str], l: Lang) -> Vec<String> {
        cols.iter().map(|c| t(c, l)).collect()
    }
}
