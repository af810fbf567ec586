//! Text cells in files that spreadsheets open: neutralising formulas in CSV exports.
//!
//! Excel and WPS run a CSV cell that begins with `=`, `+`, `-` or `@` as a formula, and one that
//! begins with a tab or carriage return can be made to (CSV or formula injection: a device
//! name `=HYPERLINK("http://…")` typed into a platform becomes a live link in the contractor's
//! spreadsheet). On CSV export such a text cell is written with a leading `'`, which both
//! programs take as "this is text" and do not display.
//!
//! The rule is unambiguous, so export → import is lossless:
//! - export ([`escape`]): a text cell beginning with `=`, `+`, `-`, `@`, tab, CR **or `'`**
//!   gets one `'` in front (`=1+1` → `'=1+1`, `'abc` → `''abc`);
//! - import ([`unescape`]): one leading `'` is removed from a text cell, if there is one.
//!
//! Which cells are text is the caller's decision, column by column: numeric columns (longitude
//! and latitude, which can be negative; ports; fees; hours and rates in reports) are written as
//! they are and never unescaped. XLSX needs none of this: text is written as string cells
//! (`write_string`), which are never evaluated, so XLSX values carry no `'`.

use std::borrow::Cow;

/// Whether a CSV text cell needs the `'` prefix: it would be a formula, or it already begins
/// with the prefix itself.
pub fn needs_escape(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'')
    )
}

/// A text cell for CSV export: `'` prepended when [`needs_escape`].
pub fn escape(s: &str) -> Cow<'_, str> {
    if needs_escape(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// A text cell read from CSV: one leading `'` removed.
pub fn unescape(s: &str) -> &str {
    s.strip_prefix('\'').unwrap_or(s)
}

/// A plain decimal number (`12`, `-3.50`): what a report's mixed value column leaves as it is,
/// since a spreadsheet reads it as a number, never as a formula.
pub fn is_plain_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// A table as CSV bytes, UTF-8 with a BOM (so Excel and WPS read Chinese text right): every
/// cell of a column marked `text` goes through [`escape`]; other columns are written as they
/// are (numbers, which a spreadsheet never runs).
pub fn csv_table<R, C>(headers: &[&str], text: &[bool], rows: R) -> Vec<u8>
where
    R: IntoIterator<Item = Vec<C>>,
    C: AsRef<str>,
{
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        let headers: Vec<Cow<'_, str>> = headers.iter().map(|h| escape(h)).collect();
        w.write_record(headers.iter().map(|h| h.as_bytes()))
            .expect("in-memory write");
        for r in rows {
            let cells: Vec<Cow<'_, str>> = r
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    if text.get(i).copied().unwrap_or(true) {
                        escape(v.as_ref())
                    } else {
                        Cow::Borrowed(v.as_ref())
                    }
                })
                .collect();
            w.write_record(cells.iter().map(|c| c.as_bytes()))
                .expect("in-memory write");
        }
        w.flush().expect("in-memory write");
    }
    out
}

/// A table as XLSX bytes: one sheet named `sheet`, a bold frozen header row, every non-empty
/// cell a string cell (never evaluated as a formula, so nothing is escaped).
pub fn xlsx_table<C: AsRef<str>>(
    sheet: &str,
    headers: &[&str],
    rows: &[Vec<C>],
) -> crate::error::Result<Vec<u8>> {
    use crate::error::Error;
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let xl = |e: rust_xlsxwriter::XlsxError| Error::internal(format!("writing XLSX: {e}"));
    ws.set_name(sheet).map_err(xl)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(xl)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let v = v.as_ref();
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, v).map_err(xl)?;
            }
        }
    }
    ws.set_freeze_panes(1, 0).map_err(xl)?;
    wb.save_to_buffer().map_err(xl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_prefixed_and_come_back() {
        for s in [
            "=1+1", "+86 138", "-2", "@SUM(A1)", "\tx", "\rx", "'a", "''",
        ] {
            let e = escape(s);
            assert_eq!(e, format!("'{s}"));
            assert_eq!(unescape(&e), s);
        }
        for s in ["南门", "a=b", "", " =x", "1"] {
            assert_eq!(escape(s), s);
            assert_eq!(unescape(&escape(s)), s);
        }
    }

    #[test]
    fn plain_numbers() {
        for s in ["0", "12", "-3.50", "156.68"] {
            assert!(is_plain_number(s), "{s}");
        }
        for s in ["", "-", "1.", ".5", "+1", "1e5", "-inf", "NaN", "=1", "1-1"] {
            assert!(!is_plain_number(s), "{s}");
        }
    }
}
