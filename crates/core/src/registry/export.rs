//! Writing the register back out as CSV (UTF-8 with a BOM, so Excel shows Chinese correctly) or
//! XLSX (every cell text, so 20-digit codes keep their digits). Export → import changes nothing:
//! headers are the canonical field names, `extra` columns keep their original headers.
//! Passwords are left out unless the caller explicitly asks (an admin action, audit-logged).
//!
//! Formulas: in CSV, a free-text cell (`Field::is_free_text` and every `extra` column) that
//! begins with `=`, `+`, `-`, `@`, tab, CR or `'` is written with one `'` in front, so Excel and
//! WPS show it as text instead of running it; CSV import removes exactly one leading `'` from
//! the same columns, so export → import is lossless (`crate::spreadsheet`). Numeric columns
//! (coordinates, which can be negative; ports; fees) are written as they are. XLSX writes every
//! cell as a string cell, which is never evaluated, and needs no prefix.

use std::collections::BTreeSet;

use super::Device;
use super::aliases::{ALIASES, Field};
use super::values::format_money;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "csv" => Ok(Self::Csv),
            "xlsx" => Ok(Self::Xlsx),
            o => Err(format!("unknown format {o:?} (expected csv or xlsx)")),
        }
    }
}

fn cell(d: &Device, f: Field, with_passwords: bool) -> String {
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    match f {
        Field::Code => d.code.to_string(),
        Field::Name => d.name.clone(),
        Field::Kind => d.kind.as_str().to_string(),
        Field::Parent => d.parent.map(|p| p.to_string()).unwrap_or_default(),
        Field::Ip => d.ip.map(|i| i.to_string()).unwrap_or_default(),
        Field::RtspPort => d.rtsp_port.map(|p| p.to_string()).unwrap_or_default(),
        Field::HttpPort => d.http_port.map(|p| p.to_string()).unwrap_or_default(),
        Field::StreamUrls => d.stream_urls.join(";"),
        Field::OnvifUrl => s(&d.onvif_url),
        Field::SnapshotUrl => s(&d.snapshot_url),
        Field::Username => s(&d.username),
        Field::Password if with_passwords => d
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default(),
        Field::Password => String::new(),
        Field::CivilCode => s(&d.civil_code),
        Field::PoliceStation => s(&d.police_station),
        Field::Address => s(&d.address),
        Field::Longitude => d.longitude.map(|x| x.to_string()).unwrap_or_default(),
        Field::Latitude => d.latitude.map(|x| x.to_string()).unwrap_or_default(),
        Field::PlaceType => s(&d.place_type),
        Field::BuildType => s(&d.build_type),
        Field::BuildDate => d.build_date.map(|x| x.to_string()).unwrap_or_default(),
        Field::Vendor => s(&d.vendor),
        Field::Model => s(&d.model),
        Field::Resolution => s(&d.resolution),
        Field::Maintainer => s(&d.maintainer),
        Field::MaintainerContact => s(&d.maintainer_contact),
        Field::MaintainerPhone => s(&d.maintainer_phone),
        Field::MonthlyFee => d.monthly_fee_fen.map(format_money).unwrap_or_default(),
        Field::MonthlyLinkFee => d.monthly_link_fee_fen.map(format_money).unwrap_or_default(),
        Field::ContractFrom => d.contract_from.map(|x| x.to_string()).unwrap_or_default(),
        Field::ContractTo => d.contract_to.map(|x| x.to_string()).unwrap_or_default(),
        Field::Tags => d.tags.join(";"),
    }
}

/// Header row and data rows, as text (the values themselves: no CSV escaping).
pub fn to_rows(devices: &[Device], with_passwords: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let (headers, rows, _) = rows_and_text_columns(devices, with_passwords);
    (headers, rows)
}

/// [`to_rows`] with, per column, whether it is free text (`Field::is_free_text`, or `extra`).
fn rows_and_text_columns(
    devices: &[Device],
    with_passwords: bool,
) -> (Vec<String>, Vec<Vec<String>>, Vec<bool>) {
    let fields: Vec<(Field, &str)> = ALIASES
        .iter()
        .filter(|(f, _, _)| with_passwords || *f != Field::Password)
        .map(|(f, c, _)| (*f, *c))
        .collect();
    let extra: BTreeSet<&String> = devices.iter().flat_map(|d| d.extra.keys()).collect();
    let mut headers: Vec<String> = fields.iter().map(|(_, c)| c.to_string()).collect();
    headers.extend(extra.iter().map(|k| k.to_string()));
    let mut text: Vec<bool> = fields.iter().map(|(f, _)| f.is_free_text()).collect();
    text.extend(extra.iter().map(|_| true));
    let rows = devices
        .iter()
        .map(|d| {
            let mut r: Vec<String> = fields
                .iter()
                .map(|(f, _)| cell(d, *f, with_passwords))
                .collect();
            r.extend(
                extra
                    .iter()
                    .map(|k| d.extra.get(*k).cloned().unwrap_or_default()),
            );
            r
        })
        .collect();
    (headers, rows, text)
}

/// CSV bytes, UTF-8 with BOM. Free-text cells that a spreadsheet would run as a formula, or
/// that begin with `'`, get a leading `'` (`crate::spreadsheet`); import removes it again.
pub fn to_csv(devices: &[Device], with_passwords: bool) -> Vec<u8> {
    let (headers, rows, text) = rows_and_text_columns(devices, with_passwords);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    crate::spreadsheet::csv_table(&headers, &text, rows)
}

/// XLSX bytes, every cell as text.
pub fn to_xlsx(devices: &[Device], with_passwords: bool) -> Result<Vec<u8>> {
    let (headers, rows) = to_rows(devices, with_passwords);
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    crate::spreadsheet::xlsx_table("devices", &headers, &rows)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::registry::import::parse_table;
    use crate::registry::table::read_csv;
    use crate::secret::Password;

    const FORMULAS: [&str; 8] = [
        "=HYPERLINK(\"http://x.example/\",\"南门\")",
        "+86 551 6000 0000",
        "-1+2",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "'quoted",
        "''twice",
    ];

    fn device(n: usize, text: &str) -> Device {
        let mut d = Device::new(
            format!("340104000013200{n:05}").parse().unwrap(),
            text.to_string(),
        );
        d.address = Some(text.to_string());
        d.police_station = Some(text.to_string());
        d.maintainer = Some(text.to_string());
        d.maintainer_phone = Some(text.to_string());
        d.vendor = Some(text.to_string());
        d.username = Some(text.to_string());
        d.password = Some(Password::new(text));
        // Tags are split on `,`, `;`, `、`, `|` and trimmed: one without those.
        d.tags = vec![tag(n), "b".into()];
        d.extra.insert("补光属性".into(), text.to_string());
        d.longitude = Some(-117.25);
        d.latitude = Some(-31.5);
        d.rtsp_port = Some(554);
        d.monthly_fee_fen = Some(8050);
        d
    }

    fn tag(n: usize) -> String {
        format!("{}{n}", ["=", "+", "-", "@", "'"][n % 5])
    }

    fn row_no(row: &[String]) -> usize {
        row[0][15..].parse().unwrap()
    }

    fn round_trip(devices: &[Device]) -> Vec<Device> {
        let bytes = to_csv(devices, true);
        let t = read_csv(&bytes, "x.csv").unwrap();
        let p = parse_table(&t, "x.csv", &HashSet::new());
        assert!(p.errors.is_empty() && p.fatal.is_none(), "{:?}", p.errors);
        p.devices
    }

    /// The cells of a CSV export, as a spreadsheet sees them (no escaping undone).
    fn cells(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap());
        let mut rows: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        let headers = rows.remove(0);
        (headers, rows)
    }

    #[test]
    fn csv_export_neutralises_formulas_and_imports_back_unchanged() {
        let devices: Vec<Device> = FORMULAS
            .iter()
            .enumerate()
            .map(|(i, s)| device(i + 1, s))
            .collect();
        let bytes = to_csv(&devices, true);
        let (headers, rows) = cells(&bytes);
        let col = |h: &str| headers.iter().position(|x| x == h).unwrap();
        for (row, raw) in rows.iter().zip(FORMULAS) {
            for h in [
                "name",
                "address",
                "police_station",
                "maintainer",
                "maintainer_phone",
                "vendor",
                "username",
                "password",
                "补光属性",
            ] {
                assert_eq!(row[col(h)], format!("'{raw}"), "{h}");
            }
            assert_eq!(row[col("tags")], format!("'{};b", tag(row_no(row))));
            // Numbers are written as they are, negative coordinates included.
            assert_eq!(row[col("longitude")], "-117.25");
            assert_eq!(row[col("latitude")], "-31.5");
            assert_eq!(row[col("rtsp_port")], "554");
            assert_eq!(row[col("monthly_fee")], "80.50");
        }
        assert_eq!(round_trip(&devices), devices);
    }

    #[test]
    fn xlsx_export_writes_formula_text_as_string_cells() {
        use calamine::{Data, Reader};
        let devices: Vec<Device> = FORMULAS
            .iter()
            .enumerate()
            .map(|(i, s)| device(i + 1, s))
            .collect();
        let bytes = to_xlsx(&devices, false).unwrap();
        let mut wb: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let formulas = wb.worksheet_formula("devices").unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula cells"
        );
        let range = wb.worksheet_range("devices").unwrap();
        let headers: Vec<String> = range
            .rows()
            .next()
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let name = headers.iter().position(|h| h == "name").unwrap();
        let lon = headers.iter().position(|h| h == "longitude").unwrap();
        for (i, raw) in FORMULAS.iter().enumerate() {
            let r = (i + 1) as u32;
            // The value itself, as text: no `'` (a string cell needs none).
            assert_eq!(
                range.get_value((r, name as u32)),
                Some(&Data::String(raw.to_string()))
            );
            assert_eq!(
                range.get_value((r, lon as u32)),
                Some(&Data::String("-117.25".into()))
            );
        }
    }

    /// Free text as people type it: any characters, one of the formula starts or a `'` in
    /// front at times, no blanks at the ends (import trims those).
    fn free_text() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["", "=", "+", "-", "@", "\t", "\r", "'", "''", "'="]),
            "\\PC{1,40}",
        )
            .prop_filter_map("blank", |(prefix, body)| {
                let body = body.trim();
                (!body.is_empty()).then(|| format!("{prefix}{body}"))
            })
    }

    proptest! {
        #[test]
        fn csv_round_trip_is_lossless_and_formula_free(
            names in prop::collection::vec(free_text(), 1..6),
            addresses in prop::collection::vec(free_text(), 1..6),
        ) {
            let devices: Vec<Device> = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut d = Device::new(
                        format!("340104000013200{:05}", i + 1).parse().unwrap(),
                        n.clone(),
                    );
                    d.address = Some(addresses[i % addresses.len()].clone());
                    d.maintainer = Some(addresses[(i + 1) % addresses.len()].clone());
                    d.longitude = Some(-(i as f64) - 0.5);
                    d
                })
                .collect();
            let bytes = to_csv(&devices, false);
            let (headers, rows) = cells(&bytes);
            for row in &rows {
                for (h, c) in headers.iter().zip(row) {
                    if h != "longitude" {
                        prop_assert!(
                            !crate::spreadsheet::needs_escape(c) || c.starts_with('\''),
                            "{h}: {c:?} would run as a formula"
                        );
                    }
                }
            }
            prop_assert_eq!(round_trip(&devices), devices);
        }
    }
}
