//! The header alias table: which column names, in English, Chinese or GB/T 28181 catalog form,
//! mean which register field. Matching ignores case, spaces, underscores, hyphens and a BOM.
//! Columns not in the table are kept in `Device::extra` under their original header.
//!
//! `docs/register-columns.md` is generated from this table (`camwatch device columns`) and a
//! test keeps the two equal.

/// A register field an import column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Code,
    Name,
    Kind,
    Parent,
    Ip,
    RtspPort,
    HttpPort,
    StreamUrls,
    OnvifUrl,
    SnapshotUrl,
    Username,
    Password,
    CivilCode,
    PoliceStation,
    Address,
    Longitude,
    Latitude,
    PlaceType,
    BuildType,
    BuildDate,
    Vendor,
    Model,
    Resolution,
    Maintainer,
    MaintainerContact,
    MaintainerPhone,
    MonthlyFee,
    MonthlyLinkFee,
    ContractFrom,
    ContractTo,
    Tags,
}

impl Field {
    /// Text as people type it, kept as given: the columns CSV export guards against formulas and
    /// CSV import unescapes (`crate::spreadsheet`), with every `extra` column. The others are
    /// numbers (coordinates, ports, money) or values import validates into a fixed form (codes,
    /// IP addresses, URLs, dates, kinds, civil codes), which cannot begin like a formula.
    pub fn is_free_text(self) -> bool {
        matches!(
            self,
            Self::Name
                | Self::Username
                | Self::Password
                | Self::PoliceStation
                | Self::Address
                | Self::PlaceType
                | Self::BuildType
                | Self::Vendor
                | Self::Model
                | Self::Resolution
                | Self::Maintainer
                | Self::MaintainerContact
                | Self::MaintainerPhone
                | Self::Tags
        )
    }
}

/// (field, canonical English header, aliases). The canonical header is what export writes.
pub const ALIASES: &[(Field, &str, &[&str])] = &[
    (
        Field::Code,
        "code",
        &[
            "设备编码",
            "国标编码",
            "视频编码",
            "点位编码",
            "设备ID",
            "DeviceID",
            "device_code",
            "通道编码",
        ],
    ),
    (
        Field::Name,
        "name",
        &["设备名称", "点位名称", "摄像机名称", "通道名称"],
    ),
    (Field::Kind, "kind", &["设备种类", "device_kind"]),
    (
        Field::Parent,
        "parent",
        &[
            "上级设备编码",
            "所属NVR",
            "父设备编码",
            "ParentID",
            "parent_code",
        ],
    ),
    (
        Field::Ip,
        "ip",
        &["IPV4地址", "IP地址", "IPAddress", "IPV6地址"],
    ),
    (Field::RtspPort, "rtsp_port", &["RTSP端口"]),
    (
        Field::HttpPort,
        "http_port",
        &["端口", "设备端口", "HTTP端口", "Port"],
    ),
    (
        Field::StreamUrls,
        "stream_urls",
        &[
            "取流地址",
            "RTSP地址",
            "视频流地址",
            "stream_url",
            "码流地址",
        ],
    ),
    (Field::OnvifUrl, "onvif_url", &["ONVIF地址"]),
    (
        Field::SnapshotUrl,
        "snapshot_url",
        &["抓图地址", "快照地址"],
    ),
    (
        Field::Username,
        "username",
        &["用户名", "登录账号", "登录用户名"],
    ),
    (Field::Password, "password", &["密码", "登录密码"]),
    (
        Field::CivilCode,
        "civil_code",
        &["行政区域", "行政区划", "行政区划代码", "所属区域"],
    ),
    (
        Field::PoliceStation,
        "police_station",
        &["所属辖区公安机关", "所属派出所", "管辖单位", "Block"],
    ),
    (
        Field::Address,
        "address",
        &["安装地址", "安装位置", "点位地址"],
    ),
    (Field::Longitude, "longitude", &["经度", "lon", "lng"]),
    (Field::Latitude, "latitude", &["纬度", "lat"]),
    (
        Field::PlaceType,
        "place_type",
        &["监控点位类型", "摄像机位置类型", "PositionType"],
    ),
    (Field::BuildType, "build_type", &["建设类型", "建设单位"]),
    (
        Field::BuildDate,
        "build_date",
        &["安装时间", "建设时间", "启用时间"],
    ),
    (
        Field::Vendor,
        "vendor",
        &["设备厂商", "厂商", "生产厂家", "品牌", "Manufacturer"],
    ),
    (Field::Model, "model", &["设备型号", "型号"]),
    (Field::Resolution, "resolution", &["分辨率"]),
    (
        Field::Maintainer,
        "maintainer",
        &["管理单位", "运维单位", "维护单位", "Owner"],
    ),
    (
        Field::MaintainerContact,
        "maintainer_contact",
        &["运维联系人", "管理单位联系方式"],
    ),
    (
        Field::MaintainerPhone,
        "maintainer_phone",
        &["联系电话", "运维电话"],
    ),
    (
        Field::MonthlyFee,
        "monthly_fee",
        &["月运维费", "运维单价", "维护费"],
    ),
    (
        Field::MonthlyLinkFee,
        "monthly_link_fee",
        &["月链路费", "链路费", "线路费"],
    ),
    (
        Field::ContractFrom,
        "contract_from",
        &["纳入考核日期", "入网日期", "合同开始"],
    ),
    (
        Field::ContractTo,
        "contract_to",
        &["退出考核日期", "拆除日期", "合同结束"],
    ),
    (Field::Tags, "tags", &["摄像机功能类型", "标签"]),
];

fn normalise(h: &str) -> String {
    h.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '\u{3000}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The field a header names, if any.
pub fn resolve(header: &str) -> Option<Field> {
    let n = normalise(header);
    ALIASES.iter().find_map(|(f, canon, aliases)| {
        (normalise(canon) == n || aliases.iter().any(|a| normalise(a) == n)).then_some(*f)
    })
}

/// The header export writes for a field.
pub fn canonical(field: Field) -> &'static str {
    ALIASES
        .iter()
        .find(|(f, _, _)| *f == field)
        .map(|(_, c, _)| *c)
        .expect("every field has a row")
}

/// The alias table as Markdown (the body of docs/register-columns.md).
pub fn markdown() -> String {
    let mut s = String::from(
        "# Register import columns\n\nGenerated from `src/registry/aliases.rs` by `camwatch device columns`; do not edit by hand.\n\
         Matching ignores case, spaces, underscores and hyphens. Columns not listed are kept in the\n\
         device's `extra` map under their original header and exported back unchanged.\n\n\
         | field (export header) | also accepted |\n|---|---|\n",
    );
    for (_, canon, aliases) in ALIASES {
        s.push_str(&format!("| `{canon}` | {} |\n", aliases.join(", ")));
    }
    s.push_str(
        "\nValues: money in yuan (`80`, `80.50`, `￥80.00`, `80元`), at most 2 decimals; coordinates in\n\
         decimal degrees or 度分秒 (`117°12'30\"E`, `117度12分30秒`); dates as `2024-03-01`, `2024/3/1`,\n\
         `20240301`, `2024年3月1日` or Excel dates; several stream URLs separated by `;`; tags by `;`, `,` or `、`.\n\
         A civil code must be digits (6 for a district); a division given by name is kept in `extra`.\n\
         URLs must not carry credentials: use the username/password columns, which are encrypted at rest.\n\
         When a file has no password column, stored passwords are kept.\n\n\
         Formulas: CSV export writes a free-text cell that begins with `=`, `+`, `-`, `@`, a tab, a carriage\n\
         return or `'` with one `'` in front, so Excel and WPS show it as text instead of running it;\n\
         CSV import removes exactly one leading `'` from the same columns, so export → import is lossless.\n\
         The other columns (numbers such as a negative longitude, ports and fees; codes, IP addresses,\n\
         URLs and dates) are neither escaped nor unescaped. XLSX cells are string cells, never\n\
         formulas, and carry no `'`. Free-text columns: ",
    );
    let free: Vec<String> = ALIASES
        .iter()
        .filter(|(f, _, _)| f.is_free_text())
        .map(|(_, c, _)| format!("`{c}`"))
        .collect();
    s.push_str(&free.join(", "));
    s.push_str(" and every `extra` column.\n");
    s.push_str(&format!(
        "\nLimits (`camwatch_core::limits`): a longer value is that row's error, `file:line: column: too long`;\n\
         every import (register, history, exemptions) imports the other rows, or none with `--strict`.\n\
         `name` and `address` at most {} characters; URLs at most {} each (every stream URL on its\n\
         own); the other free-text columns and every `extra` column at most {}; `code` is exactly 20\n\
         digits. Characters, not bytes: `南` is one. Any single field of any column at most {} KiB,\n\
         and a whole file (CSV or XLSX) at most {} MiB, refused with an error before anything is read\n\
         into the register. History imports: `cause` at most {}; exemption imports: `note` at most\n\
         {}, `approved_by` at most {}; the same field and file caps.\n",
        crate::limits::NAME_CHARS,
        crate::limits::URL_CHARS,
        crate::limits::TEXT_CHARS,
        crate::limits::FIELD_BYTES >> 10,
        crate::limits::FILE_BYTES >> 20,
        crate::limits::CAUSE_CHARS,
        crate::limits::NOTE_CHARS,
        crate::limits::APPROVER_CHARS,
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_aliases() {
        assert_eq!(resolve("\u{feff}设备编码"), Some(Field::Code));
        assert_eq!(resolve("国标编码"), Some(Field::Code));
        assert_eq!(resolve("DeviceID"), Some(Field::Code));
        assert_eq!(resolve("IP 地址"), Some(Field::Ip));
        assert_eq!(resolve("Monthly_Fee"), Some(Field::MonthlyFee));
        assert_eq!(resolve("补光属性"), None);
    }

    #[test]
    fn no_alias_is_claimed_twice() {
        let mut seen = std::collections::HashMap::new();
        for (f, canon, aliases) in ALIASES {
            for a in std::iter::once(canon).chain(aliases.iter()) {
                if let Some(prev) = seen.insert(normalise(a), *f) {
                    panic!("{a} maps to both {prev:?} and {f:?}");
                }
            }
        }
    }

    #[test]
    fn docs_match_the_table() {
        let doc = include_str!("../../../../docs/register-columns.md");
        assert_eq!(
            doc,
            markdown(),
            "regenerate with `camwatch device columns > docs/register-columns.md`"
        );
    }
}
