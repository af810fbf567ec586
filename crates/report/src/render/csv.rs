//! CSV: sections (summary, regions, contractors, daily rates, outage causes, devices, deductions, exemptions, work orders:
//! their summary, by state, level, fault kind, contractor and region, the overdue ones; the
//! patrol's summary, days, patrollers and findings when the report has them; notes),
//! each a title row, a header row and data rows, separated by blank lines. UTF-8 with a BOM so
//! Excel and WPS open Chinese text correctly.
//!
//! Formulas: names, contractors, regions, exemption notes, work-order titles and the like are
//! typed by people, and a cell beginning with `=`, `+`, `-`, `@`, tab or CR would run as a
//! formula in Excel or WPS. Every cell that is not a plain decimal number (hours, rates, money:
//! written as they are, negative ones included) is written through
//! `camwatch_core::spreadsheet::escape`, which puts one `'` in front of such a cell and of one
//! already beginning with `'`.

use std::borrow::Cow;

use super::super::Report;
use super::labels::{Lang, t};
use super::tables;
use camwatch_core::error::{Error, Result};
use camwatch_core::spreadsheet::{escape, is_plain_number};

/// A cell as written: numbers as they are, text escaped against formulas.
fn cell(s: &str) -> Cow<'_, str> {
    if is_plain_number(s) {
        Cow::Borrowed(s)
    } else {
        escape(s)
    }
}

fn record<S: AsRef<str>>(w: &mut csv::Writer<Vec<u8>>, cells: &[S]) -> csv::Result<()> {
    w.write_record(cells.iter().map(|c| cell(c.as_ref()).into_owned()))
}

pub fn render(r: &Report, l: Lang) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let io = |e: csv::Error| Error::internal(format!("csv: {e}"));
    let section = |w: &mut csv::Writer<Vec<u8>>,
                   title: &str,
                   header: Vec<String>,
                   rows: Vec<Vec<String>>|
     -> Result<()> {
        record(w, &[t(title, l)]).map_err(io)?;
        record(w, &header).map_err(io)?;
        for row in rows {
            record(w, &row).map_err(io)?;
        }
        w.write_record([""]).map_err(io)?;
        Ok(())
    };
    section(
        &mut w,
        "summary",
        vec![t("item", l), t("value", l)],
        tables::summary(r, l).into_iter().map(Vec::from).collect(),
    )?;
    section(
        &mut w,
        "by_region",
        tables::header(&tables::REGION_COLS, l),
        r.regions.iter().map(|g| tables::rollup(g, true)).collect(),
    )?;
    section(
        &mut w,
        "by_contractor",
        tables::header(&tables::ROLLUP_COLS, l),
        r.contractors
            .iter()
            .map(|g| tables::rollup(g, false))
            .collect(),
    )?;
    section(
        &mut w,
        "daily_sheet",
        tables::header(&tables::DAILY_COLS, l),
        tables::daily(r),
    )?;
    section(
        &mut w,
        "causes_sheet",
        tables::header(&tables::CAUSE_COLS, l),
        tables::causes(r, l),
    )?;
    section(
        &mut w,
        "devices_sheet",
        tables::header(&tables::DEVICE_COLS, l),
        r.devices.iter().map(|d| tables::device(d, l)).collect(),
    )?;
    section(
        &mut w,
        "deductions_sheet",
        tables::header(&tables::DEDUCTION_COLS, l),
        tables::deductions(r, l),
    )?;
    section(
        &mut w,
        "exemptions_sheet",
        tables::header(&tables::EXEMPTION_COLS, l),
        tables::exemptions(r, l),
    )?;
    section(
        &mut w,
        "orders_summary",
        vec![t("item", l), t("value", l)],
        tables::order_summary(r, l)
            .into_iter()
            .map(Vec::from)
            .collect(),
    )?;
    section(
        &mut w,
        "orders_by_state",
        tables::header(&tables::STATE_COLS, l),
        tables::order_states(r, l),
    )?;
    for (title, rows) in tables::order_groups(r, l) {
        section(&mut w, title, tables::header(&tables::ORDER_COLS, l), rows)?;
    }
    section(
        &mut w,
        "overdue_orders",
        tables::header(&tables::OVERDUE_COLS, l),
        tables::overdue(r, l),
    )?;
    if r.patrol.is_some() {
        section(
            &mut w,
            "patrol_summary",
            vec![t("item", l), t("value", l)],
            tables::patrol_summary(r, l)
                .into_iter()
                .map(Vec::from)
                .collect(),
        )?;
        section(
            &mut w,
            "patrol_days",
            tables::header(&tables::PATROL_DAY_COLS, l),
            tables::patrol_days(r, l),
        )?;
        section(
            &mut w,
            "patrol_patrollers",
            tables::header(&tables::PATROLLER_COLS, l),
            tables::patrol_patrollers(r),
        )?;
        section(
            &mut w,
            "patrol_findings",
            tables::header(&tables::FINDING_COLS, l),
            tables::patrol_findings(r, l),
        )?;
    }
    let mut notes: Vec<Vec<String>> = r.semantics.iter().map(|s| vec![s.clone()]).collect();
    notes.extend(r.notes.iter().map(|s| vec![s.clone()]));
    section(&mut w, "notes", vec![t("note", l)], notes)?;
    w.into_inner()
        .map_err(|e| Error::internal(format!("csv: {e}")))
}
