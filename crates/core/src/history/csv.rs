//! History and exemption files: CSV/XLSX tables → spans and exemptions, every bad row reported
//! as `file:line: column: problem (value)`. Parsing only; the caller checks device codes against
//! the register and stores.
//!
//! History columns: `device_code,status,from,to[,cause]` (Chinese headers 设备编码, 状态, 开始时间,
//! 结束时间, 原因 also accepted). Exemption columns: `device_code` or `region_prefix` (exactly
//! one), `reason`, `from`, `to`, `approved_by`, `note`. Times are RFC 3339 with an offset
//! (`2026-10-01T08:00:00+08:00` or `…Z`): a time without a zone is ambiguous and refused.
//! Text is bounded (`crate::limits`): a cause or a note at most 500 characters, who approved an
//! exemption at most 200; any field at most 16 KiB, a file at most 64 MiB.

use std::collections::HashMap;

use jiff::Timestamp;

use super::{Exemption, ExemptionReason, ExemptionScope, Status, StatusSpan};
use crate::limits;
use crate::registry::DeviceCode;
use crate::registry::import::RowError;
use crate::registry::table::Table;

/// Parses an RFC 3339 instant to Unix seconds.
pub fn parse_instant(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<Timestamp>()
        .map(|t| t.as_second())
        .map_err(|_| {
            "not an RFC 3339 time with an offset (e.g. 2026-10-01T08:00:00+08:00)".to_string()
        })
}

struct Columns(HashMap<&'static str, usize>);

impl Columns {
    /// Finds each wanted column by any of its names (case-insensitive, trimmed).
    fn find(headers: &[String], wanted: &[(&'static str, &[&str])]) -> Self {
        let mut m = HashMap::new();
        for (key, names) in wanted {
            if let Some(i) = headers.iter().position(|h| {
                let h = h.trim().trim_start_matches('\u{feff}').to_lowercase();
                names.iter().any(|n| h == *n)
            }) {
                m.insert(*key, i);
            }
        }
        Self(m)
    }
    fn get<'a>(&self, cells: &'a [String], key: &str) -> &'a str {
        self.0
            .get(key)
            .and_then(|&i| cells.get(i))
            .map_or("", |s| s.trim())
    }
    fn missing(&self, keys: &[&str]) -> Vec<String> {
        keys.iter()
            .filter(|k| !self.0.contains_key(*k))
            .map(|k| k.to_string())
            .collect()
    }
}

fn err(file: &str, line: u64, column: &str, problem: impl Into<String>, value: &str) -> RowError {
    RowError {
        file: file.to_string(),
        line,
        column: column.to_string(),
        problem: problem.into(),
        value: value.to_string(),
    }
}

const HISTORY_COLS: &[(&str, &[&str])] = &[
    (
        "device_code",
        &["device_code", "code", "设备编码", "国标编码"],
    ),
    ("status", &["status", "状态"]),
    ("from", &["from", "start", "start_at", "开始时间"]),
    ("to", &["to", "end", "end_at", "结束时间"]),
    ("cause", &["cause", "原因"]),
];

/// Spans from a history table, with the line each came from.
pub fn parse_history(t: &Table, file: &str) -> (Vec<(u64, StatusSpan)>, Vec<RowError>) {
    let cols = Columns::find(&t.headers, HISTORY_COLS);
    let missing = cols.missing(&["device_code", "status", "from", "to"]);
    if !missing.is_empty() {
        return (
            Vec::new(),
            vec![err(
                file,
                1,
                &missing.join(", "),
                "required column missing (expected device_code,status,from,to[,cause])",
                "",
            )],
        );
    }
    let mut spans = Vec::new();
    let mut errors = Vec::new();
    for row in &t.rows {
        if let Some((col, problem)) = &row.defect {
            errors.push(err(file, row.line, col, problem.clone(), ""));
            continue;
        }
        let c = &row.cells;
        let code_s = cols.get(c, "device_code");
        let code: DeviceCode = match code_s.parse() {
            Ok(x) => x,
            Err(e) => {
                errors.push(err(file, row.line, "device_code", format!("{e}"), code_s));
                continue;
            }
        };
        let st = cols.get(c, "status");
        let status: Status = match st.parse() {
            Ok(s) => s,
            Err(e) => {
                errors.push(err(file, row.line, "status", e, st));
                continue;
            }
        };
        let (f, to) = (cols.get(c, "from"), cols.get(c, "to"));
        let start_at = match parse_instant(f) {
            Ok(x) => x,
            Err(e) => {
                errors.push(err(file, row.line, "from", e, f));
                continue;
            }
        };
        let end_at = match parse_instant(to) {
            Ok(x) => x,
            Err(e) => {
                errors.push(err(file, row.line, "to", e, to));
                continue;
            }
        };
        if end_at <= start_at {
            errors.push(err(
                file,
                row.line,
                "to",
                format!("ends at or before it starts ({f})"),
                to,
            ));
            continue;
        }
        let cause = Some(cols.get(c, "cause").to_string()).filter(|s| !s.is_empty());
        if let Some(Err(e)) = cause
            .as_deref()
            .map(|s| limits::check_chars(s, limits::CAUSE_CHARS))
        {
            errors.push(err(file, row.line, "cause", e, ""));
            continue;
        }
        spans.push((
            row.line,
            StatusSpan {
                device: code,
                status,
                start_at,
                end_at,
                cause: crate::cause::from_stored(cause.as_deref()),
            },
        ));
    }
    // Overlaps inside the file: each device's spans sorted by start must not overlap.
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].1.device, spans[i].1.start_at));
    for w in order.windows(2) {
        let (a, b) = (&spans[w[0]], &spans[w[1]]);
        if a.1.device == b.1.device && b.1.start_at < a.1.end_at {
            errors.push(err(
                file,
                b.0,
                "from",
                format!(
                    "{} span overlaps the {} span on line {} of the same device",
                    b.1.status, a.1.status, a.0
                ),
                &cols_value(b.1.start_at),
            ));
        }
    }
    errors.sort_by_key(|e| e.line);
    (spans, errors)
}

fn cols_value(at: i64) -> String {
    Timestamp::from_second(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

const EXEMPTION_COLS: &[(&str, &[&str])] = &[
    (
        "device_code",
        &["device_code", "code", "设备编码", "国标编码"],
    ),
    ("region_prefix", &["region_prefix", "region", "行政区划"]),
    ("reason", &["reason", "原因", "免责原因"]),
    ("from", &["from", "start", "开始时间"]),
    ("to", &["to", "end", "结束时间"]),
    ("approved_by", &["approved_by", "批准人", "审批人"]),
    ("note", &["note", "说明", "备注"]),
];

/// Exemptions from a table, with the line each came from.
pub fn parse_exemptions(t: &Table, file: &str) -> (Vec<(u64, Exemption)>, Vec<RowError>) {
    let cols = Columns::find(&t.headers, EXEMPTION_COLS);
    let mut missing = cols.missing(&["reason", "from", "to", "approved_by"]);
    if !cols.0.contains_key("device_code") && !cols.0.contains_key("region_prefix") {
        missing.push("device_code or region_prefix".into());
    }
    if !missing.is_empty() {
        return (
            Vec::new(),
            vec![err(
                file,
                1,
                &missing.join(", "),
                "required column missing",
                "",
            )],
        );
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for row in &t.rows {
        if let Some((col, problem)) = &row.defect {
            errors.push(err(file, row.line, col, problem.clone(), ""));
            continue;
        }
        let c = &row.cells;
        let (dc, rp) = (cols.get(c, "device_code"), cols.get(c, "region_prefix"));
        let scope = match (dc.is_empty(), rp.is_empty()) {
            (false, true) => match dc.parse::<DeviceCode>() {
                Ok(code) => ExemptionScope::Device(code),
                Err(e) => {
                    errors.push(err(file, row.line, "device_code", e.to_string(), dc));
                    continue;
                }
            },
            (true, false) if rp.len() <= 20 && rp.bytes().all(|b| b.is_ascii_digit()) => {
                ExemptionScope::RegionPrefix(rp.to_string())
            }
            (true, false) => {
                errors.push(err(
                    file,
                    row.line,
                    "region_prefix",
                    "a region prefix is 1 to 20 digits",
                    rp,
                ));
                continue;
            }
            _ => {
                errors.push(err(
                    file,
                    row.line,
                    "device_code",
                    "give exactly one of device_code and region_prefix",
                    dc,
                ));
                continue;
            }
        };
        let r = cols.get(c, "reason");
        let reason: ExemptionReason = match r.parse() {
            Ok(x) => x,
            Err(e) => {
                errors.push(err(file, row.line, "reason", e, r));
                continue;
            }
        };
        let (f, to) = (cols.get(c, "from"), cols.get(c, "to"));
        let (start_at, end_at) = match (parse_instant(f), parse_instant(to)) {
            (Ok(a), Ok(b)) if b > a => (a, b),
            (Ok(_), Ok(_)) => {
                errors.push(err(file, row.line, "to", "ends at or before it starts", to));
                continue;
            }
            (Err(e), _) => {
                errors.push(err(file, row.line, "from", e, f));
                continue;
            }
            (_, Err(e)) => {
                errors.push(err(file, row.line, "to", e, to));
                continue;
            }
        };
        let approved_by = cols.get(c, "approved_by");
        let note = cols.get(c, "note");
        if let Some((col, e)) = [
            ("approved_by", approved_by, limits::APPROVER_CHARS),
            ("note", note, limits::NOTE_CHARS),
        ]
        .into_iter()
        .find_map(|(col, v, max)| limits::check_chars(v, max).err().map(|e| (col, e)))
        {
            errors.push(err(file, row.line, col, e, ""));
            continue;
        }
        if approved_by.is_empty() {
            errors.push(err(
                file,
                row.line,
                "approved_by",
                "an exemption needs the name of who approved it",
                "",
            ));
            continue;
        }
        out.push((
            row.line,
            Exemption {
                id: 0,
                scope,
                reason,
                start_at,
                end_at,
                note: note.to_string(),
                approved_by: approved_by.to_string(),
            },
        ));
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::table::read_csv;

    const CODE: &str = "34010400001320000001";

    #[test]
    fn good_and_bad_history_rows() {
        let text = format!(
            "device_code,status,from,to,cause\n\
             {CODE},online,2026-10-01T00:00:00+08:00,2026-10-02T00:00:00+08:00,\n\
             {CODE},offline,2026-10-02T00:00:00+08:00,2026-10-02T06:00:00+08:00,refused\n\
             {CODE},offline,2026-10-02T05:00:00+08:00,2026-10-02T07:00:00+08:00,\n\
             1234,online,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,\n\
             {CODE},sleeping,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,\n\
             {CODE},online,2026-10-01 00:00,2026-10-02T00:00:00Z,\n\
             {CODE},online,2026-10-09T00:00:00Z,2026-10-08T00:00:00Z,\n"
        );
        let t = read_csv(text.as_bytes(), "h.csv").unwrap();
        let (spans, errors) = parse_history(&t, "h.csv");
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(spans.len(), 3, "{msgs:?}");
        assert_eq!(msgs.len(), 5, "{msgs:?}");
        assert!(
            msgs[0].starts_with("h.csv:4: from: offline span overlaps the offline span on line 3"),
            "{msgs:?}"
        );
        assert!(msgs[1].starts_with("h.csv:5: device_code:"), "{msgs:?}");
        assert!(
            msgs[2].starts_with("h.csv:6: status: unknown status"),
            "{msgs:?}"
        );
        assert!(
            msgs[3].starts_with("h.csv:7: from: not an RFC 3339"),
            "{msgs:?}"
        );
        assert!(
            msgs[4].starts_with("h.csv:8: to: ends at or before"),
            "{msgs:?}"
        );
        assert_eq!(
            spans[1].1.cause,
            Some(crate::cause::Cause::Other("refused".into()))
        );
    }

    #[test]
    fn crlf_history_and_exemption_errors_name_their_physical_lines() {
        // As Excel and WPS save CSV: CRLF, a quoted cause spanning two lines.
        let history = format!(
            "device_code,status,from,to,cause\r\n\
             {CODE},offline,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,\"refused\r\nat 8\"\r\n\
             {CODE},sleeping,2026-10-01T02:00:00Z,2026-10-01T03:00:00Z,\r\n\
             {CODE},online,2026-10-01T04:00:00Z,2026-10-01T05:00:00Z,\r\n\
             {CODE},online,2026-10-01 06:00,2026-10-01T07:00:00Z,\r\n"
        );
        let t = read_csv(history.as_bytes(), "h.csv").unwrap();
        let (spans, errors) = parse_history(&t, "h.csv");
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(spans.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 5]);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("h.csv:4: status:"), "{msgs:?}");
        assert!(msgs[1].starts_with("h.csv:6: from:"), "{msgs:?}");

        let exemptions = format!(
            "device_code,region_prefix,reason,from,to,approved_by,note\r\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,张三,\"台风\r\n停电\"\r\n\
             {CODE},,rain,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,张三,\r\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,,\r\n"
        );
        let (gbk, _, _) = encoding_rs::GBK.encode(&exemptions);
        let t = read_csv(&gbk, "e.csv").unwrap();
        let (ok, errors) = parse_exemptions(&t, "e.csv");
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(ok.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2]);
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("e.csv:4: reason:"), "{msgs:?}");
        assert!(msgs[1].starts_with("e.csv:5: approved_by:"), "{msgs:?}");
    }

    #[test]
    fn over_long_history_and_exemption_fields_are_row_errors() {
        let history = format!(
            "device_code,status,from,to,cause\n\
             {CODE},offline,2026-10-01T00:00:00Z,2026-10-01T01:00:00Z,{ok}\n\
             {CODE},offline,2026-10-01T02:00:00Z,2026-10-01T03:00:00Z,{long}\n\
             {CODE},offline,2026-10-01T04:00:00Z,2026-10-01T05:00:00Z,{huge}\n\
             {CODE},online,2026-10-01T06:00:00Z,2026-10-01T07:00:00Z,\n",
            ok = "因".repeat(500),
            long = "因".repeat(501),
            huge = "x".repeat(1 << 20),
        );
        let t = read_csv(history.as_bytes(), "h.csv").unwrap();
        let (spans, errors) = parse_history(&t, "h.csv");
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "h.csv:3: cause: too long: 501 characters, at most 500",
                "h.csv:4: cause: field too long: 1048576 bytes, at most 16384 in any field",
            ]
        );
        assert_eq!(spans.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 5]);

        let exemptions = format!(
            "device_code,region_prefix,reason,from,to,approved_by,note\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,{name},{note}\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,张三,{long_note}\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,{long_name},\n\
             {CODE},,other,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,张三,{huge}\n\
             {CODE},,other,2026-10-03T00:00:00Z,2026-10-04T00:00:00Z,张三,\n",
            name = "张".repeat(200),
            note = "说".repeat(500),
            long_note = "说".repeat(501),
            long_name = "张".repeat(201),
            huge = "x".repeat(1 << 20),
        );
        let t = read_csv(exemptions.as_bytes(), "e.csv").unwrap();
        let (ok, errors) = parse_exemptions(&t, "e.csv");
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "e.csv:3: note: too long: 501 characters, at most 500",
                "e.csv:4: approved_by: too long: 201 characters, at most 200",
                "e.csv:5: note: field too long: 1048576 bytes, at most 16384 in any field",
            ]
        );
        assert_eq!(ok.iter().map(|e| e.0).collect::<Vec<_>>(), vec![2, 6]);
    }

    #[test]
    fn missing_columns_are_named() {
        let t = read_csv(b"code,state,from\n", "h.csv").unwrap();
        let (_, errors) = parse_history(&t, "h.csv");
        assert_eq!(
            errors[0].to_string(),
            "h.csv:1: status, to: required column missing (expected device_code,status,from,to[,cause])"
        );
    }

    #[test]
    fn exemptions() {
        let text = format!(
            "device_code,region_prefix,reason,from,to,approved_by,note\n\
             {CODE},,force_majeure,2026-10-01T00:00:00+08:00,2026-10-03T00:00:00+08:00,张三,台风\n\
             ,340104,planned_works,2026-10-05T00:00:00+08:00,2026-10-05T06:00:00+08:00,李四,\n\
             {CODE},340104,other,2026-10-05T00:00:00+08:00,2026-10-05T06:00:00+08:00,李四,\n\
             {CODE},,rain,2026-10-05T00:00:00+08:00,2026-10-05T06:00:00+08:00,李四,\n\
             {CODE},,other,2026-10-05T00:00:00+08:00,2026-10-05T06:00:00+08:00,,\n"
        );
        let t = read_csv(text.as_bytes(), "e.csv").unwrap();
        let (ok, errors) = parse_exemptions(&t, "e.csv");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].1.scope, ExemptionScope::RegionPrefix("340104".into()));
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("e.csv:4: device_code: give exactly one"));
        assert!(msgs[1].contains("e.csv:5: reason: unknown exemption reason"));
        assert!(msgs[2].contains("e.csv:6: approved_by:"));
    }
}
