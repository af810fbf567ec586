//! Turning a register table into `Device` records, with one precise error line per problem:
//! `file:line: column: problem (value)`. Pure: the caller supplies the codes already stored
//! (for the unknown-parent check) and writes the good records.
//!
//! Nothing is dropped silently: an unrecognised column goes to `extra`, a bad row is reported
//! with every problem it has, and a password's value is never echoed in a message.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use super::aliases::{Field, resolve};
use super::table::Table;
use super::values::{camera_form, parse_coordinate, parse_date, parse_money_fen, point_class};
use super::{Device, DeviceCode, DeviceKind, check_url};
use crate::limits;
use crate::secret::Password;
use crate::spreadsheet::unescape;

/// How much of a bad value an error line echoes.
const ECHO_CHARS: usize = 100;

/// One problem in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub problem: String,
    /// The offending value (empty when it would be a secret or there is none).
    pub value: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.column, self.problem
        )?;
        if !self.value.is_empty() {
            // A long bad value is echoed cut short: the line says where it is.
            write!(f, " ({})", limits::shorten(&self.value, ECHO_CHARS))?;
        }
        Ok(())
    }
}

/// The outcome of parsing one file.
#[derive(Debug, Default)]
pub struct ParsedRegister {
    pub devices: Vec<Device>,
    /// Sorted by line.
    pub errors: Vec<RowError>,
    /// Data rows seen (good + bad).
    pub rows: u64,
    /// Rows with at least one error.
    pub rejected_rows: u64,
    /// Whether the file has a password column (if not, stored passwords are kept).
    pub has_password_column: bool,
    /// File-level problems (missing required columns); nothing is imported when present.
    pub fatal: Option<String>,
}

/// Parses `table` read from `file`. `existing` holds the codes already in the register.
pub fn parse_table(table: &Table, file: &str, existing: &HashSet<DeviceCode>) -> ParsedRegister {
    let mut out = ParsedRegister {
        rows: table.rows.len() as u64,
        ..Default::default()
    };
    let cols: Vec<Option<Field>> = table.headers.iter().map(|h| resolve(h)).collect();
    let mut dup_cols = Vec::new();
    for (i, f) in cols.iter().enumerate() {
        if let Some(f) = f
            && cols[..i].contains(&Some(*f))
        {
            dup_cols.push(table.headers[i].clone());
        }
    }
    let missing: Vec<&str> = [
        (Field::Code, "code (设备编码)"),
        (Field::Name, "name (设备名称)"),
    ]
    .into_iter()
    .filter(|(f, _)| !cols.contains(&Some(*f)))
    .map(|(_, n)| n)
    .collect();
    if !missing.is_empty() || !dup_cols.is_empty() {
        let mut msg = String::new();
        if !missing.is_empty() {
            msg = format!(
                "{file}:1: header: missing required column {}",
                missing.join(", ")
            );
        }
        if !dup_cols.is_empty() {
            if !msg.is_empty() {
                msg.push('\n');
            }
            msg.push_str(&format!(
                "{file}:1: header: columns {} name a field already given by another column",
                dup_cols.join(", ")
            ));
        }
        out.fatal = Some(msg);
        out.rejected_rows = out.rows;
        return out;
    }
    out.has_password_column = cols.contains(&Some(Field::Password));

    // Codes in this file, first line seen, for duplicate and parent checks.
    let code_col = cols
        .iter()
        .position(|c| *c == Some(Field::Code))
        .expect("checked");
    let mut first_line: HashMap<DeviceCode, u64> = HashMap::new();
    for r in &table.rows {
        if let Some(Ok(c)) = r.cells.get(code_col).map(|s| s.parse::<DeviceCode>()) {
            first_line.entry(c).or_insert(r.line);
        }
    }

    // CSV export prefixes formula-like free text with `'` (`crate::spreadsheet`); XLSX
    // carries text cells as they are.
    // CSV cells carry the export's formula escaping; a workbook's and a JSON body's do not.
    let csv = !matches!(table.encoding, "XLSX" | "JSON");
    for r in &table.rows {
        let mut errs = Vec::new();
        let mut err = |column: &str, problem: String, value: &str| {
            errs.push(RowError {
                file: file.to_string(),
                line: r.line,
                column: column.to_string(),
                problem,
                value: value.to_string(),
            })
        };
        if let Some((col, why)) = &r.defect {
            err(col, why.clone(), "");
            out.errors.append(&mut errs);
            out.rejected_rows += 1;
            continue;
        }
        let cells = unescape_text_cells(&cols, &r.cells, csv);
        let device = parse_row(
            &table.headers,
            &cols,
            &cells,
            r.line,
            &first_line,
            existing,
            &mut err,
        );
        if errs.is_empty() {
            out.devices.push(device.expect("no errors means a device"));
        } else {
            out.rejected_rows += 1;
            out.errors.append(&mut errs);
        }
    }
    out
}

/// The row's cells with one leading `'` removed from free-text and `extra` columns when the
/// table is CSV: the inverse of CSV export's formula escaping.
fn unescape_text_cells<'a>(
    cols: &[Option<Field>],
    cells: &'a [String],
    csv: bool,
) -> Cow<'a, [String]> {
    let is_text = |i: usize| {
        cols.get(i)
            .copied()
            .flatten()
            .is_none_or(Field::is_free_text)
    };
    if !csv
        || !cells
            .iter()
            .enumerate()
            .any(|(i, c)| is_text(i) && c.starts_with('\''))
    {
        return Cow::Borrowed(cells);
    }
    Cow::Owned(
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if is_text(i) {
                    unescape(c).to_string()
                } else {
                    c.clone()
                }
            })
            .collect(),
    )
}

fn parse_row(
    headers: &[String],
    cols: &[Option<Field>],
    cells: &[String],
    line: u64,
    first_line: &HashMap<DeviceCode, u64>,
    existing: &HashSet<DeviceCode>,
    err: &mut impl FnMut(&str, String, &str),
) -> Option<Device> {
    let get = |f: Field| -> Option<(&str, &str)> {
        cols.iter()
            .position(|c| *c == Some(f))
            .and_then(|i| cells.get(i).map(|v| (headers[i].as_str(), v.as_str())))
            .filter(|(_, v)| !v.is_empty())
    };
    // Length limits (`crate::limits`) on every text column; stream URLs are limited per URL.
    for (i, v) in cells.iter().enumerate() {
        let max = match cols.get(i).copied().flatten() {
            Some(Field::StreamUrls) => continue,
            Some(f) => match limits::register_field(f) {
                Some(m) => m,
                None => continue,
            },
            None if headers.get(i).is_none_or(|h| h.is_empty()) => continue,
            None => limits::EXTRA_CHARS,
        };
        if let Err(e) = limits::check_chars(v, max) {
            err(&headers[i], e, "");
        }
    }
    let code_header = cols
        .iter()
        .position(|c| *c == Some(Field::Code))
        .map_or("code", |i| headers[i].as_str());
    let code = match get(Field::Code) {
        None => {
            err(code_header, "missing device code".into(), "");
            None
        }
        Some((h, v)) => match v.parse::<DeviceCode>() {
            Err(e) => {
                err(h, e.to_string(), v);
                None
            }
            Ok(c) => {
                let first = first_line[&c];
                if first != line {
                    err(h, format!("duplicate code, first given on line {first}"), v);
                }
                Some(c)
            }
        },
    };
    let name = match get(Field::Name) {
        Some((_, v)) => v.to_string(),
        None => {
            let h = cols
                .iter()
                .position(|c| *c == Some(Field::Name))
                .map_or("name", |i| headers[i].as_str());
            err(h, "missing device name".into(), "");
            String::new()
        }
    };
    let mut d = Device::new(
        code.unwrap_or_else(|| "11000000000000000000".parse().expect("valid")),
        name,
    );

    if let Some((h, v)) = get(Field::Parent) {
        match v.parse::<DeviceCode>() {
            Err(e) => err(h, format!("parent {e}"), v),
            Ok(p) if Some(p) == code => err(h, "a device cannot be its own parent".into(), v),
            Ok(p) if !first_line.contains_key(&p) && !existing.contains(&p) => err(
                h,
                "unknown parent: not in this file nor in the register".into(),
                v,
            ),
            Ok(p) => d.parent = Some(p),
        }
    }
    d.kind = match get(Field::Kind) {
        Some((h, v)) => v.parse::<DeviceKind>().unwrap_or_else(|e| {
            err(h, e, v);
            DeviceKind::Other
        }),
        None => code.map_or(DeviceKind::Other, |c| {
            DeviceKind::from_code(&c, d.parent.is_some())
        }),
    };
    if let Some((h, v)) = get(Field::Ip) {
        match v.parse() {
            Ok(ip) => d.ip = Some(ip),
            Err(_) => err(h, "not an IP address".into(), v),
        }
    }
    for (f, slot) in [
        (Field::RtspPort, &mut d.rtsp_port),
        (Field::HttpPort, &mut d.http_port),
    ] {
        if let Some((h, v)) = get(f) {
            match v.parse::<u16>() {
                Ok(p) if p > 0 => *slot = Some(p),
                _ => err(h, "not a port (1–65535)".into(), v),
            }
        }
    }
    if let Some((h, v)) = get(Field::StreamUrls) {
        for u in v
            .split([';', '|', '\n'])
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            if let Err(e) = limits::check_chars(u, limits::URL_CHARS) {
                err(h, e, "");
                continue;
            }
            match check_url(u) {
                Ok(()) => d.stream_urls.push(u.to_string()),
                // Never echo a URL that may carry a password.
                Err(e) if e.contains("credentials") => err(h, e, ""),
                Err(e) => err(h, e, ""),
            }
        }
    }
    for (f, slot) in [
        (Field::OnvifUrl, &mut d.onvif_url),
        (Field::SnapshotUrl, &mut d.snapshot_url),
    ] {
        if let Some((h, v)) = get(f) {
            match check_url(v) {
                Ok(()) => *slot = Some(v.to_string()),
                Err(e) => err(h, e, ""),
            }
        }
    }
    d.username = get(Field::Username).map(|(_, v)| v.to_string());
    d.password = get(Field::Password).map(|(_, v)| Password::new(v));
    if let Some((h, v)) = get(Field::CivilCode) {
        if v.chars().all(|c| c.is_ascii_digit()) {
            if (2..=12).contains(&v.len()) && v.len() % 2 == 0 {
                d.civil_code = Some(v.to_string());
            } else {
                err(h, "a civil code has 2 to 12 digits, in pairs".into(), v);
            }
        } else {
            // A division given by name: kept verbatim, the region comes from the device code.
            d.extra.insert(h.to_string(), v.to_string());
        }
    }
    let text = |f: Field| get(f).map(|(_, v)| v.to_string());
    d.police_station = text(Field::PoliceStation);
    d.address = text(Field::Address);
    for (f, is_lon) in [(Field::Longitude, true), (Field::Latitude, false)] {
        if let Some((h, v)) = get(f) {
            match parse_coordinate(v, is_lon) {
                Ok(x) if is_lon => d.longitude = Some(x),
                Ok(x) => d.latitude = Some(x),
                Err(e) => err(h, e, v),
            }
        }
    }
    d.place_type = text(Field::PlaceType).map(|v| point_class(&v));
    d.build_type = text(Field::BuildType);
    d.vendor = text(Field::Vendor);
    d.model = text(Field::Model);
    d.resolution = text(Field::Resolution);
    d.maintainer = text(Field::Maintainer);
    d.maintainer_contact = text(Field::MaintainerContact);
    d.maintainer_phone = text(Field::MaintainerPhone);
    for (f, slot) in [
        (Field::MonthlyFee, &mut d.monthly_fee_fen),
        (Field::MonthlyLinkFee, &mut d.monthly_link_fee_fen),
    ] {
        if let Some((h, v)) = get(f) {
            match parse_money_fen(v) {
                Ok(x) => *slot = Some(x),
                Err(e) => err(h, e, v),
            }
        }
    }
    for (f, slot) in [
        (Field::BuildDate, &mut d.build_date),
        (Field::ContractFrom, &mut d.contract_from),
        (Field::ContractTo, &mut d.contract_to),
    ] {
        if let Some((h, v)) = get(f) {
            match parse_date(v) {
                Ok(x) => *slot = Some(x),
                Err(e) => err(h, e, v),
            }
        }
    }
    if let (Some(a), Some(b)) = (d.contract_from, d.contract_to)
        && b < a
    {
        let h = get(Field::ContractTo).map_or("contract_to", |(h, _)| h);
        err(
            h,
            format!("in-contract end is before its start ({a})"),
            &b.to_string(),
        );
    }
    if let Some((_, v)) = get(Field::Tags) {
        d.tags = v
            .split([';', ',', '、', '|'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
    }
    // Everything else, by original header. 摄像机类型 codes are normalised to their text.
    for (i, c) in cols.iter().enumerate() {
        if c.is_none()
            && let Some(v) = cells.get(i).filter(|v| !v.is_empty())
        {
            let h = &headers[i];
            if h.is_empty() {
                continue;
            }
            let v = if h == "摄像机类型" {
                camera_form(v)
            } else {
                v.clone()
            };
            d.extra.insert(h.clone(), v);
        }
    }
    code.map(|_| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::table::read_csv;

    fn parse(text: &str) -> ParsedRegister {
        let t = read_csv(text.as_bytes(), "f.csv").unwrap();
        parse_table(&t, "f.csv", &HashSet::new())
    }

    #[test]
    fn good_row_fills_fields_and_extra() {
        let p = parse(
            "设备编码,设备名称,IP地址,经度,纬度,月运维费,补光属性,密码,摄像机类型\n\
             34020000001320000001,南门,10.1.2.3,117.25,31.8,80.50,红外补光,pw,1\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let d = &p.devices[0];
        assert_eq!(d.name, "南门");
        assert_eq!(d.monthly_fee_fen, Some(8050));
        assert_eq!(d.extra["补光属性"], "红外补光");
        assert_eq!(d.extra["摄像机类型"], "球机");
        assert_eq!(d.password.as_ref().unwrap().expose(), "pw");
        assert!(p.has_password_column);
    }

    #[test]
    fn each_problem_is_one_precise_line() {
        let p = parse(
            "code,name,parent,longitude,stream_urls,ip\n\
             34020000001320000001,a,,,,\n\
             3402000000132000000X,b,,,,\n\
             34020000001320000001,c,,,,\n\
             34020000001320000003,d,34020000001180000099,,,\n\
             34020000001320000004,e,,190,,\n\
             34020000001320000005,f,,,rtsp://admin:secret@10.0.0.1/x,\n\
             34020000001320000006,g,,,,10.0.0.300\n",
        );
        let lines: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "f.csv:3: code: device code must be digits only, found 'X' at position 20 (3402000000132000000X)",
                "f.csv:4: code: duplicate code, first given on line 2 (34020000001320000001)",
                "f.csv:5: parent: unknown parent: not in this file nor in the register (34020000001180000099)",
                "f.csv:6: longitude: longitude out of range (±180) (190)",
                "f.csv:7: stream_urls: URL carries credentials (user:password@host); put them in the username/password fields, which are encrypted at rest",
                "f.csv:8: ip: not an IP address (10.0.0.300)",
            ]
        );
        assert!(!lines.iter().any(|l| l.contains("secret")));
        assert_eq!(p.devices.len(), 1);
        assert_eq!(p.rejected_rows, 6);
    }

    #[test]
    fn over_long_fields_are_row_errors_and_the_rest_import() {
        let long = |n: usize| "长".repeat(n);
        let text = format!(
            "code,name,address,snapshot_url,补光属性,password\n\
             34020000001320000001,{name200},{addr200},http://10.0.0.1/{url_ok},{extra500},pw\n\
             34020000001320000002,{name201},,,,\n\
             34020000001320000003,b,{addr201},,,\n\
             34020000001320000004,c,,http://10.0.0.1/{url_long},,\n\
             34020000001320000005,d,,,{extra501},\n\
             34020000001320000006,e,,,,{pw501}\n\
             34020000001320000007,{huge},,,,\n\
             34020000001320000008,f,,,,\n",
            name200 = long(200),
            addr200 = long(200),
            url_ok = "u".repeat(2048 - 16),
            extra500 = long(500),
            name201 = long(201),
            addr201 = long(201),
            url_long = "u".repeat(2049 - 16),
            extra501 = long(501),
            pw501 = "p".repeat(501),
            huge = "x".repeat(1 << 20),
        );
        let p = parse(&text);
        let lines: Vec<String> = p.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "f.csv:3: name: too long: 201 characters, at most 200",
                "f.csv:4: address: too long: 201 characters, at most 200",
                "f.csv:5: snapshot_url: too long: 2049 characters, at most 2048",
                "f.csv:6: 补光属性: too long: 501 characters, at most 500",
                "f.csv:7: password: too long: 501 characters, at most 500",
                "f.csv:8: name: field too long: 1048576 bytes, at most 16384 in any field",
            ]
        );
        let codes: Vec<String> = p.devices.iter().map(|d| d.code.to_string()).collect();
        assert_eq!(codes, ["34020000001320000001", "34020000001320000008"]);
        assert_eq!(p.devices[0].name.chars().count(), 200);
    }

    #[test]
    fn a_long_bad_value_is_echoed_cut_short() {
        let p = parse(&format!(
            "code,name,ip\n34020000001320000001,a,{}\n",
            "9".repeat(5000)
        ));
        let line = p.errors[0].to_string();
        assert!(
            line.starts_with("f.csv:2: ip: not an IP address (9999"),
            "{line}"
        );
        assert!(line.ends_with("…)") && line.len() < 200, "{line}");
    }

    #[test]
    fn missing_required_column_is_fatal() {
        let p = parse("设备名称\nx\n");
        assert_eq!(
            p.fatal.as_deref(),
            Some("f.csv:1: header: missing required column code (设备编码)")
        );
    }

    #[test]
    fn parent_in_store_is_known() {
        let t = read_csv(
            "code,name,parent\n34020000001320000001,a,34020000001180000001\n".as_bytes(),
            "f.csv",
        )
        .unwrap();
        let existing: HashSet<DeviceCode> = ["34020000001180000001".parse().unwrap()].into();
        let p = parse_table(&t, "f.csv", &existing);
        assert!(p.errors.is_empty());
        assert_eq!(p.devices[0].kind, DeviceKind::Channel);
    }
}
