//! Writing the register back out as CSV (UTF-8 with a BOM, so Excel shows Chinese correctly) or
//! XLSX (every cell text, so 20-digit codes keep their digits). Export → import changes nothing:
//! headers are the canonical field names, `extra` columns keep their original headers.
//! Passwords are left out unless the caller explicitly asks (an admin action, audit-logged).

use std::collections::BTreeSet;

use super::Device;
use super::aliases::{ALIASES, Field};
use super::values::format_money;
use crate::error::{Error, Result};

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

/// Header row and data rows, as text.
pub fn to_rows(devices: &[Device], with_passwords: bool) -> (Vec<String>, Vec<Vec<String>>) {
    let fields: Vec<(Field, &str)> = ALIASES
        .iter()
        .filter(|(f, _, _)| with_passwords || *f != Field::Password)
        .map(|(f, c, _)| (*f, *c))
        .collect();
    let extra: BTreeSet<&String> = devices.iter().flat_map(|d| d.extra.keys()).collect();
    let mut headers: Vec<String> = fields.iter().map(|(_, c)| c.to_string()).collect();
    headers.extend(extra.iter().map(|k| k.to_string()));
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
    (headers, rows)
}

/// CSV bytes, UTF-8 with BOM.
pub fn to_csv(devices: &[Device], with_passwords: bool) -> Vec<u8> {
    let (headers, rows) = to_rows(devices, with_passwords);
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(&headers).expect("in-memory write");
        for r in rows {
            w.write_record(&r).expect("in-memory write");
        }
        w.flush().expect("in-memory write");
    }
    out
}

/// XLSX bytes, every cell as text.
pub fn to_xlsx(devices: &[Device], with_passwords: bool) -> Result<Vec<u8>> {
    let (headers, rows) = to_rows(devices, with_passwords);
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let xl = |e: rust_xlsxwriter::XlsxError| Error::internal(format!("writing XLSX: {e}"));
    ws.set_name("devices").map_err(xl)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)
            .map_err(xl)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, v).map_err(xl)?;
            }
        }
    }
    ws.set_freeze_panes(1, 0).map_err(xl)?;
    wb.save_to_buffer().map_err(xl)
}
