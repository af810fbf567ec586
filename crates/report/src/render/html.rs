//! Printable HTML: one self-contained page (no scripts, no external resources), A4 landscape
//! with repeated table headers on every printed page and signature lines at the end. The charts
//! (daily rate against the threshold, regions and contractors ranked, offline time by cause)
//! are inline SVG (`charts`), so the page still prints and archives as one file.

use std::fmt::Write;

use super::super::Report;
use super::super::Rollup;
use super::charts::{self, Bar, Colour, Line, esc};
use super::labels::{Lang, t};
use super::tables;

/// The most groups a ranking chart shows (the lowest); the table has them all.
const RANKED_MAX: usize = 20;

/// The charts auditors expect: the daily rate against the threshold, regions and contractors
/// ranked, the offline time by cause.
fn charts(o: &mut String, r: &Report, l: Lang) {
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("charts", l)));
    let _ = writeln!(o, "<h3>{}</h3>", esc(&t("chart_daily", l)));
    let days: Vec<String> = r
        .daily
        .iter()
        .map(|d| d.date.rsplit('-').next().unwrap_or(&d.date).to_string())
        .collect();
    let pc = |v: Option<f64>| v.map(|x| x * 100.0);
    let online: Vec<Option<f64>> = r.daily.iter().map(|d| pc(d.online_rate)).collect();
    let intact: Vec<Option<f64>> = r.daily.iter().map(|d| pc(d.intact_rate)).collect();
    let (online_label, intact_label) = (t("online_rate", l), t("intact_rate", l));
    let threshold_label = t("threshold", l);
    o.push_str(&charts::daily(
        &days,
        &[
            Line {
                label: &online_label,
                values: &online,
                colour: Colour::Blue,
                dashed: false,
            },
            Line {
                label: &intact_label,
                values: &intact,
                colour: Colour::Green,
                dashed: true,
            },
        ],
        r.online_threshold_percent
            .map(|v| (v, threshold_label.as_str())),
    ));
    o.push('\n');
    for (title, groups) in [
        ("chart_regions", &r.regions),
        ("chart_contractors", &r.contractors),
    ] {
        let _ = writeln!(o, "<h3>{}</h3>", esc(&t(title, l)));
        ranking(o, groups, r.online_threshold_percent, l);
    }
    let _ = writeln!(o, "<h3>{}</h3>", esc(&t("chart_causes", l)));
    let bars: Vec<Bar> = r
        .outage_causes
        .iter()
        .map(|c| Bar {
            label: tables::cause_label(&c.cause, l),
            value: c.offline_hours,
            text: format!("{:.1} h", c.offline_hours),
            alarm: false,
        })
        .collect();
    if bars.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", esc(&t("none", l)));
    } else {
        o.push_str(&charts::bars(&bars, None, 0.0));
        o.push('\n');
    }
}

/// Groups by online rate, the lowest [`RANKED_MAX`], red below the threshold.
fn ranking(o: &mut String, groups: &[Rollup], threshold: Option<f64>, l: Lang) {
    let ranked = tables::ranked(groups);
    let shown: Vec<&Rollup> = ranked
        .iter()
        .copied()
        .filter(|g| g.totals.online_rate.is_some())
        .take(RANKED_MAX)
        .collect();
    if shown.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", esc(&t("none", l)));
        return;
    }
    let bars: Vec<Bar> = shown
        .iter()
        .map(|g| {
            let v = g.totals.online_rate.unwrap_or(0.0) * 100.0;
            Bar {
                label: tables::group_label(g, l),
                value: v,
                text: format!("{v:.2}%"),
                alarm: threshold.is_some_and(|t| v < t),
            }
        })
        .collect();
    let floor = charts::rate_floor(bars.iter().map(|b| b.value).chain(threshold));
    o.push_str(&charts::bars(&bars, Some(100.0), floor));
    o.push('\n');
    if ranked.len() > shown.len() {
        let more = (ranked.len() - shown.len()).to_string();
        let _ = writeln!(
            o,
            "<p class=\"more\">{}</p>",
            esc(&t("chart_more", l).replace("{n}", &more))
        );
    }
}

fn table(out: &mut String, cols: &[&str], rows: &[Vec<String>], l: Lang) {
    out.push_str("<table><thead><tr>");
    for h in tables::header(cols, l) {
        let _ = write!(out, "<th>{}</th>", esc(&h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

const STYLE: &str = "
@page { size: A4 landscape; margin: 12mm; }
body { font-family: 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif; font-size: 10pt; color: #000; }
h1 { font-size: 16pt; margin: 0 0 6pt; } h2 { font-size: 12pt; margin: 14pt 0 4pt; break-after: avoid; }
h3 { font-size: 10.5pt; margin: 10pt 0 2pt; break-after: avoid; }
svg.chart { display: block; max-width: 100%; break-inside: avoid; } .more { font-size: 9pt; color: #444; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6pt; }
th, td { border: 0.5pt solid #444; padding: 2pt 4pt; text-align: left; vertical-align: top; }
thead { display: table-header-group; } tr { break-inside: avoid; }
th { background: #eee; } td { font-variant-numeric: tabular-nums; }
.summary td:first-child { font-weight: bold; width: 30%; }
.sign { display: flex; gap: 24pt; margin-top: 24pt; } .sign div { flex: 1; border-top: 0.5pt solid #000; padding-top: 4pt; }
.digest { font-family: monospace; font-size: 8pt; word-break: break-all; }
";

pub fn render(r: &Report, l: Lang) -> String {
    let mut o = String::new();
    let lang = match l {
        Lang::Zh => "zh-CN",
        Lang::En => "en",
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{} {}</title><style>{STYLE}</style></head><body>\n",
        esc(&t("title", l)),
        esc(&r.month)
    );
    let _ = writeln!(o, "<h1>{} · {}</h1>", esc(&t("title", l)), esc(&r.month));
    o.push_str("<table class=\"summary\"><tbody>\n");
    for [k, v] in tables::summary(r, l) {
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
    }
    o.push_str("</tbody></table>\n");
    charts(&mut o, r, l);
    for (title, rows, named) in [
        ("by_region", &r.regions, true),
        ("by_contractor", &r.contractors, false),
    ] {
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t(title, l)));
        let rows: Vec<Vec<String>> = rows.iter().map(|g| tables::rollup(g, named)).collect();
        let cols: &[&str] = if named {
            &tables::REGION_COLS
        } else {
            &tables::ROLLUP_COLS
        };
        table(&mut o, cols, &rows, l);
    }
    for (title, cols, rows) in [
        ("daily_sheet", &tables::DAILY_COLS, tables::daily(r)),
        ("causes_sheet", &tables::CAUSE_COLS, tables::causes(r, l)),
    ] {
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t(title, l)));
        table(&mut o, cols, &rows, l);
    }
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("deductions_sheet", l)));
    table(
        &mut o,
        &tables::DEDUCTION_COLS,
        &tables::deductions(r, l),
        l,
    );
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("exemptions_sheet", l)));
    table(
        &mut o,
        &tables::EXEMPTION_COLS,
        &tables::exemptions(r, l),
        l,
    );
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("orders_summary", l)));
    o.push_str("<table class=\"summary\"><tbody>\n");
    for [k, v] in tables::order_summary(r, l) {
        let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
    }
    o.push_str("</tbody></table>\n");
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("orders_by_state", l)));
    table(&mut o, &tables::STATE_COLS, &tables::order_states(r, l), l);
    for (title, rows) in tables::order_groups(r, l) {
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t(title, l)));
        table(&mut o, &tables::ORDER_COLS, &rows, l);
    }
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("overdue_orders", l)));
    table(&mut o, &tables::OVERDUE_COLS, &tables::overdue(r, l), l);
    if r.patrol.is_some() {
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t("patrol_summary", l)));
        o.push_str("<table class=\"summary\"><tbody>\n");
        for [k, v] in tables::patrol_summary(r, l) {
            let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", esc(&k), esc(&v));
        }
        o.push_str("</tbody></table>\n");
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t("patrol_patrollers", l)));
        table(
            &mut o,
            &tables::PATROLLER_COLS,
            &tables::patrol_patrollers(r),
            l,
        );
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t("patrol_findings", l)));
        table(
            &mut o,
            &tables::FINDING_COLS,
            &tables::patrol_findings(r, l),
            l,
        );
        let _ = writeln!(o, "<h2>{}</h2>", esc(&t("patrol_days", l)));
        table(
            &mut o,
            &tables::PATROL_DAY_COLS,
            &tables::patrol_days(r, l),
            l,
        );
    }
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("devices_sheet", l)));
    let rows: Vec<Vec<String>> = r.devices.iter().map(|d| tables::device(d, l)).collect();
    table(&mut o, &tables::DEVICE_COLS, &rows, l);
    for (title, lines) in [("semantics", &r.semantics), ("notes", &r.notes)] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(o, "<h2>{}</h2><ul>", esc(&t(title, l)));
        for s in lines {
            let _ = writeln!(o, "<li>{}</li>", esc(s));
        }
        o.push_str("</ul>\n");
    }
    let _ = writeln!(
        o,
        "<p class=\"digest\">{}: {}</p>",
        esc(&t("input_digest", l)),
        esc(&r.input_digest)
    );
    let _ = writeln!(o, "<h2>{}</h2>", esc(&t("signatures", l)));
    o.push_str("<div class=\"sign\">");
    for k in ["sign_client", "sign_contractor", "sign_auditor"] {
        let _ = write!(o, "<div>{}</div>", esc(&t(k, l)));
    }
    o.push_str("</div>\n</body></html>\n");
    o
}
