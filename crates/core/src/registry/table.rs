//! Reading a register file into rows of text cells, whatever its format and encoding.
//!
//! CSV arrives as UTF-8, UTF-8 with a BOM, or GBK/GB18030 (Chinese Excel's "CSV" default).
//! Encoding is decided on the whole file (valid UTF-8 wins; otherwise chardetng's guess, decoded
//! as GB18030, a superset of GBK and GB2312) and then checked line by line, so a file with a few
//! broken byte sequences reports exactly those lines instead of failing or silently substituting.
//! XLSX is read with calamine, first sheet; cell values become text the same way a CSV would hold
//! them (dates as ISO dates, whole numbers without `.0`).

use std::path::Path;

use calamine::{Data, Reader};

use crate::error::{Error, Result};
use crate::limits;

/// One data row: its line (CSV physical line, or sheet row number) and cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
    /// Set when the row's bytes were not valid in the file's encoding, or a cell could not be read.
    pub defect: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// "UTF-8", "UTF-8 (BOM)", "GB18030", "XLSX", or "JSON" (one record sent to the API).
    pub encoding: &'static str,
}

/// Reads a CSV or XLSX file, by extension.
pub fn read_file(path: &Path) -> Result<Table> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = path.display().to_string();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => {
            let len = std::fs::metadata(path)
                .map_err(|e| Error::invalid(format!("{name}: {e}")))?
                .len();
            limits::check_file_bytes(len).map_err(|e| Error::invalid(format!("{name}: {e}")))?;
            read_sheet(path)
        }
        "csv" | "txt" | "" => read_csv(&read_capped(path, limits::FILE_BYTES)?, &name),
        other => Err(Error::invalid(format!(
            "{name}: unsupported file type .{other} (expected .csv or .xlsx)"
        ))),
    }
}

/// The file's bytes, refused with a clear error past `cap` (checked as read, not only from the
/// metadata, so a growing file or a pipe cannot take unbounded memory).
fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let name = path.display().to_string();
    let too_big = |len| {
        limits::check_file_bytes_against(len, cap)
            .map_err(|e| Error::invalid(format!("{name}: {e}")))
    };
    let f = std::fs::File::open(path).map_err(|e| Error::invalid(format!("{name}: {e}")))?;
    if let Ok(m) = f.metadata() {
        too_big(m.len())?;
    }
    let mut bytes = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
    too_big(bytes.len() as u64)?;
    Ok(bytes)
}

/// The first cell over [`limits::FIELD_BYTES`], as (column, problem).
fn oversized<'a>(
    headers: &[String],
    cells: impl Iterator<Item = &'a str>,
) -> Option<(String, String)> {
    cells.enumerate().find_map(|(i, c)| {
        limits::check_field_bytes(c).err().map(|why| {
            let col = headers.get(i).filter(|h| !h.is_empty());
            (
                col.cloned().unwrap_or_else(|| format!("column {}", i + 1)),
                why,
            )
        })
    })
}

/// Reads a register received as bytes (an upload) named `name`: XLSX when the bytes are a ZIP
/// container (what every XLSX file is), CSV otherwise. Bounded like a file.
pub fn read_bytes(bytes: &[u8], name: &str) -> Result<Table> {
    limits::check_file_bytes(bytes.len() as u64)
        .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
    if bytes.starts_with(b"PK\x03\x04") {
        let wb = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
            .map_err(|e| Error::invalid(format!("{name}: not a readable spreadsheet: {e}")))?;
        sheet_table(wb, name)
    } else {
        read_csv(bytes, name)
    }
}

/// Decodes and parses CSV bytes.
pub fn read_csv(bytes: &[u8], name: &str) -> Result<Table> {
    let (body, encoding): (&[u8], &'static str) =
        if let Some(b) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
            (b, "UTF-8 (BOM)")
        } else if std::str::from_utf8(bytes).is_ok() {
            (bytes, "UTF-8")
        } else {
            let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
            det.feed(bytes, true);
            let guess = det.guess(Some(b"cn"), chardetng::Utf8Detection::Allow);
            if guess == encoding_rs::UTF_8 {
                (bytes, "UTF-8")
            } else {
                (bytes, "GB18030")
            }
        };
    // Decode line by line so broken sequences are pinned to their lines.
    let mut text = String::with_capacity(body.len() + body.len() / 2);
    let mut bad_lines: Vec<(u64, &'static str)> = Vec::new();
    for (i, line) in body.split_inclusive(|b| *b == b'\n').enumerate() {
        let lineno = i as u64 + 1;
        if encoding.starts_with("UTF-8") {
            match std::str::from_utf8(line) {
                Ok(s) => text.push_str(s),
                Err(_) => {
                    bad_lines.push((lineno, "invalid UTF-8 byte sequence"));
                    text.push_str(&String::from_utf8_lossy(line));
                }
            }
        } else {
            let (s, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(line);
            if had_errors {
                bad_lines.push((lineno, "invalid GBK/GB18030 byte sequence"));
            }
            text.push_str(&s);
        }
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = rdr.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(h)) => {
            if let Some((_, why)) = oversized(&[], h.iter()) {
                return Err(Error::invalid(format!("{name}:1: header: {why}")));
            }
            h.iter().map(|s| s.trim().to_string()).collect()
        }
        Some(Err(e)) => return Err(Error::invalid(format!("{name}:1: header: {e}"))),
        None => return Err(Error::invalid(format!("{name}: the file is empty"))),
    };
    if let Some((l, why)) = bad_lines.iter().find(|(l, _)| *l == 1) {
        return Err(Error::invalid(format!("{name}:{l}: header: {why}")));
    }
    let mut rows = Vec::new();
    let mut pending: Option<Row> = None;
    let mut lines = LineCounter::new(text.as_bytes());
    // The column of the last record's first cell holding a line break: see below.
    let mut broken_cell: Option<usize> = None;
    for rec in records {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| lines.line_at(p.byte()));
                if let Some(p) = pending.take() {
                    rows.push(p);
                }
                broken_cell = r.iter().position(|c| c.contains(['\n', '\r']));
                if r.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                // An oversized field: the row is reported, its cells are not kept.
                let defect = oversized(&headers, r.iter());
                let cells = if defect.is_some() {
                    Vec::new()
                } else {
                    r.iter().map(|s| s.trim().to_string()).collect()
                };
                pending = Some(Row {
                    line,
                    cells,
                    defect,
                });
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                if let Some(p) = pending.take() {
                    rows.push(p);
                }
                rows.push(Row {
                    line,
                    cells: Vec::new(),
                    defect: Some(("row".into(), format!("unreadable CSV: {e}"))),
                });
            }
        }
    }
    // A quote opened and never closed: the CSV reader takes the rest of the file as that one
    // cell, with every row in it, and says nothing. It can only be the last record, a cell of
    // it holds a line break (or ends with one), and the file's quotes do not pair up (quotes
    // escaped inside a cell come in pairs, and so do a quoted cell's own).
    if let (Some(col), Some(row)) = (broken_cell, pending.as_mut())
        && row.defect.is_none()
        && text.bytes().filter(|&b| b == b'"').count() % 2 == 1
    {
        let column = headers
            .get(col)
            .filter(|h| !h.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("column {}", col + 1));
        let last =
            lines.line_at(text.trim_end_matches(['\r', '\n']).len().saturating_sub(1) as u64);
        row.defect = Some((
            column,
            format!(
                "a quote opened here is never closed: lines {} to {last} were read as this \
                 one cell",
                row.line,
            ),
        ));
        row.cells.clear();
    }
    rows.extend(pending);
    // Attach encoding defects to the row whose lines contain them.
    for (bad, why) in bad_lines {
        let idx = rows.partition_point(|r| r.line <= bad);
        if idx > 0 {
            let r = &mut rows[idx - 1];
            if r.defect.is_none() {
                r.defect = Some(("encoding".into(), why.to_string()));
            }
        }
    }
    Ok(Table {
        headers,
        rows,
        encoding,
    })
}

/// Physical line numbers from the byte offsets the csv crate reports.
///
/// csv 1.4's `Position::line()` is wrong for CRLF files (what Excel and WPS write): every
/// record after the first is positioned one byte early, on the previous line's `\n`, so its
/// line is one too small. The byte offset is usable once moved past any `\r`/`\n` (a record
/// that was not skipped as blank cannot start with one); its line is 1 + the `\n`s before it.
/// Offsets only grow, so counting resumes where the last call stopped.
pub(crate) struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub(crate) fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            at: 0,
            line: 1,
        }
    }

    /// The 1-based physical line of the record the csv reader placed at `byte`.
    pub(crate) fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.at {
            // Not expected (positions only grow); count again from the start.
            self.at = 0;
            self.line = 1;
        }
        self.line += self.text[self.at..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.at = start;
        self.line
    }
}

fn read_sheet(path: &Path) -> Result<Table> {
    let name = path.display().to_string();
    let wb = calamine::open_workbook_auto(path)
        .map_err(|e| Error::invalid(format!("{name}: not a readable spreadsheet: {e}")))?;
    sheet_table(wb, &name)
}

/// The first sheet of `wb` (read from `name`) as a table.
fn sheet_table<RS: std::io::Read + std::io::Seek>(
    mut wb: calamine::Sheets<RS>,
    name: &str,
) -> Result<Table> {
    let sheet = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| Error::invalid(format!("{name}: the workbook has no sheets")))?;
    let range = wb
        .worksheet_range(&sheet)
        .map_err(|e| Error::invalid(format!("{name}: sheet {sheet:?}: {e}")))?;
    let start_row = range.start().map_or(0, |(r, _)| r as u64);
    let mut it = range.rows();
    let headers: Vec<String> = match it.next() {
        Some(h) => h.iter().map(|c| cell_text(c).unwrap_or_default()).collect(),
        None => return Err(Error::invalid(format!("{name}: sheet {sheet:?} is empty"))),
    };
    let mut rows = Vec::new();
    for (i, r) in it.enumerate() {
        let line = start_row + i as u64 + 2;
        let mut defect = None;
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                cell_text(c).unwrap_or_else(|why| {
                    let col = headers.get(ci).cloned().unwrap_or_default();
                    defect.get_or_insert((col, why));
                    String::new()
                })
            })
            .collect();
        if defect.is_none() && cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        let mut cells = cells;
        if defect.is_none()
            && let Some(d) = oversized(&headers, cells.iter().map(String::as_str))
        {
            defect = Some(d);
            cells = Vec::new();
        }
        rows.push(Row {
            line,
            cells,
            defect,
        });
    }
    Ok(Table {
        headers,
        rows,
        encoding: "XLSX",
    })
}

fn cell_text(c: &Data) -> std::result::Result<String, String> {
    Ok(match c {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else if f.abs() >= 1e15 {
                // A 20-digit code typed into a number cell has already lost its last digits.
                return Err(format!(
                    "number {f} is too long to be exact; format the column as text"
                ));
            } else {
                f.to_string()
            }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => {
            excel_date(d.as_f64()).ok_or_else(|| format!("unreadable date {d}"))?
        }
        Data::DateTimeIso(s) => s.split('T').next().unwrap_or(s).to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(e) => return Err(format!("cell error {e}")),
    })
}

/// Excel's 1900 date system: serial day 1 is 1900-01-01, counted from 1899-12-30 because of
/// Lotus 1-2-3's phantom 1900-02-29.
fn excel_date(serial: f64) -> Option<String> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let base = jiff::civil::date(1899, 12, 30);
    base.checked_add(jiff::Span::new().days(serial.floor() as i64))
        .ok()
        .map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_and_gbk_decode_to_the_same_table() {
        let text = "设备编码,设备名称\n34020000001320000001,南门\n";
        let utf8 = read_csv(text.as_bytes(), "a.csv").unwrap();
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let bom = read_csv(&bom, "b.csv").unwrap();
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let gbk = read_csv(&gbk, "c.csv").unwrap();
        assert_eq!(utf8.rows, bom.rows);
        assert_eq!(utf8.rows, gbk.rows);
        assert_eq!(gbk.headers, vec!["设备编码", "设备名称"]);
        assert_eq!(
            (utf8.encoding, bom.encoding, gbk.encoding),
            ("UTF-8", "UTF-8 (BOM)", "GB18030")
        );
    }

    #[test]
    fn broken_gbk_line_is_pinned() {
        let (mut bytes, _, _) =
            encoding_rs::GBK.encode("设备编码,设备名称\n34020000001320000001,南门广场东侧\n");
        let mut bytes = bytes.to_mut().clone();
        bytes.extend_from_slice(b"34020000001320000002,\x81\x20bad\n");
        let (more, _, _) = encoding_rs::GBK.encode("34020000001320000003,北门停车场\n");
        bytes.extend_from_slice(&more);
        let t = read_csv(&bytes, "x.csv").unwrap();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[0].defect, None);
        assert_eq!(t.rows[1].line, 3);
        assert_eq!(
            t.rows[1].defect,
            Some((
                "encoding".into(),
                "invalid GBK/GB18030 byte sequence".into()
            ))
        );
        assert_eq!(t.rows[2].defect, None);
    }

    /// A quote left open swallows the rest of the file into one cell; the row says so, and
    /// names the lines, instead of importing a device with the other rows in its name.
    #[test]
    fn a_quote_never_closed_is_named_not_imported() {
        let text = "code,name,kind\n\
            34010200001320000001,\"gate,camera\n\
            34010200001320000002,north,camera\n\
            34010200001320000003,south,camera\n";
        let t = read_csv(text.as_bytes(), "q.csv").unwrap();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].line, 2);
        assert!(t.rows[0].cells.is_empty());
        assert_eq!(
            t.rows[0].defect,
            Some((
                "name".into(),
                "a quote opened here is never closed: lines 2 to 4 were read as this one cell"
                    .into()
            ))
        );
        // The last row's only line, its quote open: named too.
        let t = read_csv(b"code,name\n34010200001320000001,\"gate\n", "q.csv").unwrap();
        assert_eq!(
            t.rows[0].defect.as_ref().map(|d| d.0.as_str()),
            Some("name")
        );
        // Quoted cells over several lines, and quotes in pairs inside them, are cells.
        let t = read_csv(
            b"code,name\n34010200001320000001,\"say \"\"hi\"\"\nthere\"\n",
            "q.csv",
        )
        .unwrap();
        assert_eq!(t.rows[0].defect, None);
        assert_eq!(t.rows[0].cells[1], "say \"hi\"\nthere");
    }

    /// Lines as Excel and WPS write them (CRLF), with a quoted field spanning two lines, a
    /// blank line and a quoted field with an embedded CRLF at the end of a row.
    const CRLF_TEXT: &str = "设备编码,设备名称\r\n\
        34020000001320000001,南门\r\n\
        34020000001320000002,\"北门\r\n停车场\"\r\n\
        34020000001320000003,东门\r\n\
        \r\n\
        34020000001320000004,\"西门\r\n\r\n广场\"\r\n\
        34020000001320000005,中门\r\n";

    fn lines(t: &Table) -> Vec<u64> {
        t.rows.iter().map(|r| r.line).collect()
    }

    #[test]
    fn crlf_rows_report_their_physical_lines_in_every_encoding() {
        let want = vec![2, 3, 5, 7, 10];
        let utf8 = read_csv(CRLF_TEXT.as_bytes(), "a.csv").unwrap();
        assert_eq!(lines(&utf8), want, "UTF-8");
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(CRLF_TEXT.as_bytes());
        let bom = read_csv(&bom, "b.csv").unwrap();
        assert_eq!(lines(&bom), want, "UTF-8 with BOM");
        let (gbk, _, _) = encoding_rs::GBK.encode(CRLF_TEXT);
        let gbk = read_csv(&gbk, "c.csv").unwrap();
        assert_eq!(gbk.encoding, "GB18030");
        assert_eq!(lines(&gbk), want, "GBK");
        assert_eq!(utf8.rows[1].cells[1], "北门\r\n停车场");
        // LF-only files give the same lines.
        let lf = read_csv(CRLF_TEXT.replace("\r\n", "\n").as_bytes(), "d.csv").unwrap();
        assert_eq!(lines(&lf), want, "LF");
    }

    #[test]
    fn crlf_encoding_defect_is_pinned_to_its_row() {
        let (head, _, _) =
            encoding_rs::GBK.encode("设备编码,设备名称\r\n34020000001320000001,南门\r\n");
        let mut bytes = head.into_owned();
        bytes.extend_from_slice(b"34020000001320000002,\x81\x20bad\r\n");
        let (more, _, _) = encoding_rs::GBK.encode("34020000001320000003,北门\r\n");
        bytes.extend_from_slice(&more);
        let t = read_csv(&bytes, "x.csv").unwrap();
        assert_eq!(lines(&t), vec![2, 3, 4]);
        assert_eq!(t.rows[0].defect, None);
        assert!(t.rows[1].defect.is_some());
        assert_eq!(t.rows[2].defect, None);
    }

    #[test]
    fn a_file_over_the_cap_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        std::fs::write(&path, "code,name\n34020000001320000001,南门\n").unwrap();
        assert!(read_capped(&path, 64).is_ok());
        let e = read_capped(&path, 16).unwrap_err().to_string();
        assert!(e.contains("big.csv: file too large:"), "{e}");
        assert!(e.contains("split it"), "{e}");
    }

    #[test]
    fn an_oversized_header_is_refused() {
        let mut bytes = b"code,".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', limits::FIELD_BYTES + 1));
        bytes.extend_from_slice(b"\n34020000001320000001,a\n");
        let e = read_csv(&bytes, "h.csv").unwrap_err().to_string();
        assert!(e.starts_with("h.csv:1: header: field too long"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = read_csv(&bytes, "fuzz.csv");
        }
    }
}
