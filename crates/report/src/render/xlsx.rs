//! XLSX for signing: sheets summary (fleet figures, rollups by region and contractor, how the
//! figures are counted, notes, signature lines), charts (native Excel charts of the daily rate
//! against the threshold, regions and contractors ranked, offline hours by cause, each beside
//! its data), devices, deductions, exemptions, work orders
//! (their summary, the counts by state, level, fault kind, contractor and region, the overdue
//! ones) and, when the report has one, the patrol (summary, patrollers, findings, days).
//! Numbers are
//! written as numbers (so auditors can re-add them), codes as text (20 digits do not fit a
//! double).

use rust_xlsxwriter::{
    Chart, ChartFormat, ChartLine, ChartLineDashType, ChartSolidFill, ChartType, Format, Workbook,
    Worksheet, XlsxError,
};

use super::super::{Report, Rollup};
use super::labels::{Lang, t};
use super::tables;
use camwatch_core::error::{Error, Result};

fn xl(e: XlsxError) -> Error {
    Error::internal(format!("writing XLSX: {e}"))
}

/// Writes one row; cells of columns named in `numeric` that parse as numbers become numbers.
fn row(
    ws: &mut Worksheet,
    r: u32,
    cells: &[String],
    numeric: &[bool],
    fmt: Option<&Format>,
) -> Result<()> {
    for (c, v) in cells.iter().enumerate() {
        let col = c as u16;
        if v.is_empty() {
            continue;
        }
        match (numeric.get(c).copied().unwrap_or(false), v.parse::<f64>()) {
            (true, Ok(x)) => ws.write_number(r, col, x).map_err(xl)?,
            _ => match fmt {
                Some(f) => ws.write_string_with_format(r, col, v, f).map_err(xl)?,
                None => ws.write_string(r, col, v).map_err(xl)?,
            },
        };
    }
    Ok(())
}

fn numeric_cols(cols: &[&str]) -> Vec<bool> {
    cols.iter()
        .map(|c| {
            !matches!(
                *c,
                "key"
                    | "code"
                    | "name"
                    | "region"
                    | "region_name"
                    | "contractor"
                    | "eligible_from"
                    | "eligible_to"
                    | "over_offline_limit"
                    | "rule"
                    | "device"
                    | "basis"
                    | "scope"
                    | "reason"
                    | "from"
                    | "to"
                    | "approved_by"
                    | "note"
                    | "state"
                    | "order_title"
                    | "level"
                    | "origin"
                    | "opened"
                    | "response_due"
                    | "responded"
                    | "repair_due"
                    | "repaired"
                    | "missed"
                    | "patrol_day"
                    | "patrol_met_quota"
                    | "patrol_patroller"
                    | "patrol_device"
                    | "patrol_name"
                    | "patrol_region"
                    | "patrol_finding"
                    | "patrol_note"
                    | "patrol_recorded"
                    | "date"
                    | "cause"
            )
        })
        .collect()
}

/// The most groups a ranking chart shows (the lowest); its table beside it has them all.
const RANKED_MAX: usize = 20;
const BLUE: &str = "#2467B3";
const GREEN: &str = "#2E8B57";
const RED: &str = "#C0392B";

/// A percentage cell: the rate × 100, empty when there is none.
fn pct_cell(ws: &mut Worksheet, r: u32, c: u16, v: Option<f64>) -> Result<()> {
    if let Some(v) = v {
        ws.write_number(r, c, v * 100.0).map_err(xl)?;
    }
    Ok(())
}

/// The charts sheet: each chart's data as a table (columns A–D) and the chart beside it, as
/// native Excel charts reading those cells (daily rate against the threshold, regions and
/// contractors ranked by online rate, offline hours by cause).
fn charts(ws: &mut Worksheet, r: &Report, l: Lang, bold: &Format) -> Result<()> {
    let sheet = t("charts", l);
    ws.set_name(&sheet).map_err(xl)?;
    ws.set_column_width(0, 30).map_err(xl)?;
    ws.set_column_width(1, 14).map_err(xl)?;
    ws.set_column_width(2, 14).map_err(xl)?;
    ws.set_column_width(3, 14).map_err(xl)?;

    // The daily rates and the threshold as a column, so Excel draws it as a line.
    let threshold = r.online_threshold_percent;
    let head = [
        t("date", l),
        t("online_rate", l),
        t("intact_rate", l),
        t("threshold", l),
    ];
    row(ws, 0, &head, &[], Some(bold))?;
    for (i, d) in r.daily.iter().enumerate() {
        let at = 1 + i as u32;
        ws.write_string(at, 0, &d.date).map_err(xl)?;
        pct_cell(ws, at, 1, d.online_rate)?;
        pct_cell(ws, at, 2, d.intact_rate)?;
        if let Some(t) = threshold {
            ws.write_number(at, 3, t).map_err(xl)?;
        }
    }
    let last = r.daily.len() as u32;
    if last > 0 {
        let floor = super::charts::rate_floor(
            r.daily
                .iter()
                .flat_map(|d| [d.online_rate, d.intact_rate])
                .flatten()
                .map(|v| v * 100.0)
                .chain(threshold),
        );
        let mut c = Chart::new(ChartType::Line);
        c.title().set_name(t("chart_daily", l).as_str());
        let mut series = vec![(1u16, BLUE, false), (2, GREEN, true)];
        if threshold.is_some() {
            series.push((3, RED, true));
        }
        for (col, colour, dashed) in series {
            let mut line = ChartLine::new();
            line.set_color(colour);
            if dashed {
                line.set_dash_type(ChartLineDashType::Dash);
            }
            c.add_series()
                .set_name((sheet.as_str(), 0, col))
                .set_categories((sheet.as_str(), 1, 0, last, 0))
                .set_values((sheet.as_str(), 1, col, last, col))
                .set_format(ChartFormat::new().set_line(&line));
        }
        c.y_axis().set_min(floor).set_max(100.0);
        c.set_width(760).set_height(320);
        ws.insert_chart(0, 5, &c).map_err(xl)?;
    }

    // Rankings and causes below, each a table and its bar chart.
    let mut at = last.max(16) + 3;
    for (title, groups) in [
        ("chart_regions", &r.regions),
        ("chart_contractors", &r.contractors),
    ] {
        let ranked: Vec<&Rollup> = tables::ranked(groups)
            .into_iter()
            .filter(|g| g.totals.online_rate.is_some())
            .collect();
        ws.write_string_with_format(at, 0, t(title, l), bold)
            .map_err(xl)?;
        row(
            ws,
            at + 1,
            &[t("key", l), t("online_rate", l)],
            &[],
            Some(bold),
        )?;
        for (i, g) in ranked.iter().enumerate() {
            let rr = at + 2 + i as u32;
            ws.write_string(rr, 0, tables::group_label(g, l))
                .map_err(xl)?;
            pct_cell(ws, rr, 1, g.totals.online_rate)?;
        }
        let shown = ranked.len().min(RANKED_MAX) as u32;
        if shown > 0 {
            let values: Vec<f64> = ranked
                .iter()
                .filter_map(|g| g.totals.online_rate)
                .map(|v| v * 100.0)
                .collect();
            let floor = super::charts::rate_floor(values.iter().copied().chain(threshold));
            let mut c = Chart::new(ChartType::Bar);
            c.title().set_name(t(title, l).as_str());
            c.add_series()
                .set_name(t("online_rate", l).as_str())
                .set_categories((sheet.as_str(), at + 2, 0, at + 1 + shown, 0))
                .set_values((sheet.as_str(), at + 2, 1, at + 1 + shown, 1))
                .set_format(
                    ChartFormat::new().set_solid_fill(ChartSolidFill::new().set_color(BLUE)),
                );
            // The lowest at the top, as in the table.
            c.x_axis().set_reverse();
            c.y_axis().set_min(floor).set_max(100.0);
            c.set_width(760).set_height(120 + 18 * shown);
            ws.insert_chart(at, 5, &c).map_err(xl)?;
        }
        at += 2 + (ranked.len() as u32).max(18) + 3;
    }
    ws.write_string_with_format(at, 0, t("chart_causes", l), bold)
        .map_err(xl)?;
    let rows = tables::causes(r, l);
    table(ws, at + 1, &tables::CAUSE_COLS, &rows, l, bold)?;
    if !rows.is_empty() {
        let n = rows.len() as u32;
        let mut c = Chart::new(ChartType::Bar);
        c.title().set_name(t("chart_causes", l).as_str());
        c.add_series()
            .set_name((sheet.as_str(), at + 1, 1))
            .set_categories((sheet.as_str(), at + 2, 0, at + 1 + n, 0))
            .set_values((sheet.as_str(), at + 2, 1, at + 1 + n, 1))
            .set_format(ChartFormat::new().set_solid_fill(ChartSolidFill::new().set_color(BLUE)));
        c.x_axis().set_reverse();
        c.set_width(760).set_height(120 + 18 * n);
        ws.insert_chart(at, 5, &c).map_err(xl)?;
    }
    Ok(())
}

fn table(
    ws: &mut Worksheet,
    start: u32,
    cols: &[&str],
    rows: &[Vec<String>],
    l: Lang,
    bold: &Format,
) -> Result<u32> {
    row(ws, start, &tables::header(cols, l), &[], Some(bold))?;
    let numeric = numeric_cols(cols);
    for (i, r) in rows.iter().enumerate() {
        row(ws, start + 1 + i as u32, r, &numeric, None)?;
    }
    Ok(start + 1 + rows.len() as u32)
}

pub fn render(r: &Report, l: Lang) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(14);

    let ws = wb.add_worksheet();
    ws.set_name(t("summary", l)).map_err(xl)?;
    ws.write_string_with_format(0, 0, t("title", l), &title)
        .map_err(xl)?;
    let mut at = 2;
    for [k, v] in tables::summary(r, l) {
        ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
        ws.write_string(at, 1, &v).map_err(xl)?;
        at += 1;
    }
    for (name, rows, named) in [
        ("by_region", &r.regions, true),
        ("by_contractor", &r.contractors, false),
    ] {
        at += 1;
        ws.write_string_with_format(at, 0, t(name, l), &bold)
            .map_err(xl)?;
        let rows: Vec<Vec<String>> = rows.iter().map(|g| tables::rollup(g, named)).collect();
        let cols: &[&str] = if named {
            &tables::REGION_COLS
        } else {
            &tables::ROLLUP_COLS
        };
        at = table(ws, at + 1, cols, &rows, l, &bold)?;
    }
    for (name, lines) in [("semantics", &r.semantics), ("notes", &r.notes)] {
        if lines.is_empty() {
            continue;
        }
        at += 1;
        ws.write_string_with_format(at, 0, t(name, l), &bold)
            .map_err(xl)?;
        for s in lines {
            at += 1;
            ws.write_string(at, 0, s).map_err(xl)?;
        }
        at += 1;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("signatures", l), &bold)
        .map_err(xl)?;
    for k in ["sign_client", "sign_contractor", "sign_auditor"] {
        at += 2;
        ws.write_string(at, 0, format!("{}：", t(k, l)))
            .map_err(xl)?;
    }
    ws.set_column_width(0, 28).map_err(xl)?;
    ws.set_column_width(1, 40).map_err(xl)?;

    charts(wb.add_worksheet(), r, l, &bold)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("devices_sheet", l)).map_err(xl)?;
    let rows: Vec<Vec<String>> = r.devices.iter().map(|d| tables::device(d, l)).collect();
    table(ws, 0, &tables::DEVICE_COLS, &rows, l, &bold)?;
    ws.set_freeze_panes(1, 1).map_err(xl)?;
    ws.set_column_width(0, 24).map_err(xl)?;
    ws.set_column_width(1, 28).map_err(xl)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("deductions_sheet", l)).map_err(xl)?;
    table(
        ws,
        0,
        &tables::DEDUCTION_COLS,
        &tables::deductions(r, l),
        l,
        &bold,
    )?;
    ws.set_column_width(1, 24).map_err(xl)?;
    ws.set_column_width(4, 100).map_err(xl)?;

    let ws = wb.add_worksheet();
    ws.set_name(t("exemptions_sheet", l)).map_err(xl)?;
    table(
        ws,
        0,
        &tables::EXEMPTION_COLS,
        &tables::exemptions(r, l),
        l,
        &bold,
    )?;

    let ws = wb.add_worksheet();
    ws.set_name(t("work_orders_sheet", l)).map_err(xl)?;
    ws.write_string_with_format(0, 0, t("orders_summary", l), &bold)
        .map_err(xl)?;
    let mut at = 1;
    for [k, v] in tables::order_summary(r, l) {
        ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
        // Counts, minutes and percentages as numbers; an empty value (nothing to count) stays
        // empty.
        match v.parse::<f64>() {
            Ok(x) => ws.write_number(at, 1, x).map_err(xl)?,
            Err(_) => ws.write_string(at, 1, &v).map_err(xl)?,
        };
        at += 1;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("orders_by_state", l), &bold)
        .map_err(xl)?;
    at = table(
        ws,
        at + 1,
        &tables::STATE_COLS,
        &tables::order_states(r, l),
        l,
        &bold,
    )?;
    for (title, rows) in tables::order_groups(r, l) {
        at += 1;
        ws.write_string_with_format(at, 0, t(title, l), &bold)
            .map_err(xl)?;
        at = table(ws, at + 1, &tables::ORDER_COLS, &rows, l, &bold)?;
    }
    at += 1;
    ws.write_string_with_format(at, 0, t("overdue_orders", l), &bold)
        .map_err(xl)?;
    table(
        ws,
        at + 1,
        &tables::OVERDUE_COLS,
        &tables::overdue(r, l),
        l,
        &bold,
    )?;
    ws.set_column_width(0, 28).map_err(xl)?;
    ws.set_column_width(1, 32).map_err(xl)?;

    if r.patrol.is_some() {
        let ws = wb.add_worksheet();
        ws.set_name(t("patrol_sheet", l)).map_err(xl)?;
        ws.write_string_with_format(0, 0, t("patrol_summary", l), &bold)
            .map_err(xl)?;
        let mut at = 1;
        for [k, v] in tables::patrol_summary(r, l) {
            ws.write_string_with_format(at, 0, &k, &bold).map_err(xl)?;
            // Counts and percentages as numbers; the digest (hex) stays text.
            match v.parse::<f64>() {
                Ok(x) if v.len() < 20 => ws.write_number(at, 1, x).map_err(xl)?,
                _ => ws.write_string(at, 1, &v).map_err(xl)?,
            };
            at += 1;
        }
        for (title, cols, rows) in [
            (
                "patrol_patrollers",
                &tables::PATROLLER_COLS[..],
                tables::patrol_patrollers(r),
            ),
            (
                "patrol_findings",
                &tables::FINDING_COLS[..],
                tables::patrol_findings(r, l),
            ),
            (
                "patrol_days",
                &tables::PATROL_DAY_COLS[..],
                tables::patrol_days(r, l),
            ),
        ] {
            at += 1;
            ws.write_string_with_format(at, 0, t(title, l), &bold)
                .map_err(xl)?;
            at = table(ws, at + 1, cols, &rows, l, &bold)?;
        }
        ws.set_column_width(0, 28).map_err(xl)?;
        ws.set_column_width(1, 24).map_err(xl)?;
    }

    wb.save_to_buffer().map_err(xl)
}
