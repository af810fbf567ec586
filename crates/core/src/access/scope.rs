//! Region scope: which devices, work orders and report rows a user sees.
//!
//! A scope is a set of civil-code prefixes (GB/T 2260: `34` a province, `3401` a city,
//! `340104` a district; empty = the whole fleet) and, for a contractor, the maintainer
//! (运维单位) it stands for. A device is visible when its region (its civil code, else its
//! code's own division: `Device::region`) starts with one of the prefixes *and*, for a
//! contractor, its maintainer is the contractor's. Work orders are visible the same way with
//! the order's region and assignee.
//!
//! The HTTP layer filters in SQL where it can (the prefixes and the maintainer are public) and
//! checks single rows with [`Scope::sees_device`] / [`Scope::sees_work_order`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The most digits a prefix may have: a full 12-digit township/village code.
pub const PREFIX_MAX_DIGITS: usize = 12;

/// A civil-code prefix: 1–12 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionPrefix(String);

impl RegionPrefix {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether `region` (a civil code) lies in this prefix.
    pub fn covers(&self, region: &str) -> bool {
        region.starts_with(&self.0)
    }
}

impl std::str::FromStr for RegionPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s.len() > PREFIX_MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "region prefix {s:?}: expected 1 to {PREFIX_MAX_DIGITS} digits of a civil code, \
                 e.g. 340104"
            ));
        }
        Ok(Self(s.to_string()))
    }
}

impl TryFrom<String> for RegionPrefix {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<RegionPrefix> for String {
    fn from(p: RegionPrefix) -> String {
        p.0
    }
}

impl fmt::Display for RegionPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user (or token) sees. Built through [`Scope::new`], which keeps the prefixes sorted
/// and drops any prefix already covered by a shorter one, so equal scopes compare equal;
/// deserializing goes through it too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "ScopeParts")]
pub struct Scope {
    /// Empty: the whole fleet.
    regions: Vec<RegionPrefix>,
    /// A contractor's maintainer name: only devices it maintains, only orders assigned to it.
    maintainer: Option<String>,
}

/// A scope as it arrives from outside, before [`Scope::new`] normalises it.
#[derive(Deserialize)]
struct ScopeParts {
    #[serde(default)]
    regions: Vec<RegionPrefix>,
    #[serde(default)]
    maintainer: Option<String>,
}

impl From<ScopeParts> for Scope {
    fn from(p: ScopeParts) -> Self {
        Scope::new(p.regions, p.maintainer)
    }
}

impl Scope {
    /// The whole fleet, every maintainer.
    pub fn all() -> Self {
        Self::default()
    }

    /// `regions` (empty: the whole fleet), narrowed to `maintainer`'s devices when given.
    pub fn new(
        regions: impl IntoIterator<Item = RegionPrefix>,
        maintainer: Option<String>,
    ) -> Self {
        let mut v: Vec<RegionPrefix> = regions.into_iter().collect();
        v.sort();
        v.dedup();
        // Sorted, a prefix comes right before everything it covers.
        let mut kept: Vec<RegionPrefix> = Vec::with_capacity(v.len());
        for p in v {
            if !kept.iter().any(|k| p.0.starts_with(&k.0)) {
                kept.push(p);
            }
        }
        Self {
            regions: kept,
            maintainer: maintainer.filter(|m| !m.trim().is_empty()),
        }
    }

    /// The prefixes; empty means the whole fleet.
    pub fn regions(&self) -> &[RegionPrefix] {
        &self.regions
    }

    pub fn maintainer(&self) -> Option<&str> {
        self.maintainer.as_deref()
    }

    /// Whether the scope covers every region (it may still be limited to one maintainer).
    pub fn is_whole_fleet(&self) -> bool {
        self.regions.is_empty()
    }

    /// Whether the scope sees everything: every region and every maintainer's devices.
    pub fn is_unrestricted(&self) -> bool {
        self.regions.is_empty() && self.maintainer.is_none()
    }

    /// Whether `region` (a civil code) is in scope.
    pub fn sees_region(&self, region: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|p| p.covers(region))
    }

    /// Whether a device in `region`, maintained by `maintainer`, is visible.
    pub fn sees_device(&self, region: &str, maintainer: Option<&str>) -> bool {
        self.sees_region(region) && self.sees_maintainer(maintainer)
    }

    /// Whether a work order in `region`, assigned to `contractor`, is visible. A contractor
    /// sees only orders assigned to it; an unassigned order is nobody's.
    pub fn sees_work_order(&self, region: &str, contractor: Option<&str>) -> bool {
        self.sees_region(region) && self.sees_maintainer(contractor)
    }

    fn sees_maintainer(&self, maintainer: Option<&str>) -> bool {
        match &self.maintainer {
            None => true,
            Some(m) => maintainer.is_some_and(|x| x.trim() == m.trim()),
        }
    }

    /// Whether everything `other` sees, `self` sees too.
    pub fn contains(&self, other: &Scope) -> bool {
        let regions = self.regions.is_empty()
            || (!other.regions.is_empty()
                && other
                    .regions
                    .iter()
                    .all(|o| self.regions.iter().any(|p| o.0.starts_with(&p.0))));
        let maintainer = match &self.maintainer {
            None => true,
            Some(m) => other.maintainer.as_deref() == Some(m.as_str()),
        };
        regions && maintainer
    }

    /// This scope limited to `regions` (empty: unchanged), keeping the maintainer; an error
    /// naming the first prefix outside this scope.
    pub fn narrow(&self, regions: &[RegionPrefix]) -> Result<Scope, String> {
        if regions.is_empty() {
            return Ok(self.clone());
        }
        for r in regions {
            if !self.sees_region(r.as_str()) {
                return Err(format!(
                    "region {r} is outside the scope {}",
                    self.regions_text_or_all()
                ));
            }
        }
        Ok(Scope::new(regions.iter().cloned(), self.maintainer.clone()))
    }

    /// The prefixes as stored: separated by single spaces, empty for the whole fleet.
    pub fn regions_text(&self) -> String {
        join(&self.regions)
    }

    fn regions_text_or_all(&self) -> String {
        if self.regions.is_empty() {
            "all".into()
        } else {
            self.regions_text()
        }
    }
}

/// Prefixes separated by blanks or commas (the stored form, and what people type); empty or
/// `all` for the whole fleet.
pub fn parse_regions(s: &str) -> Result<Vec<RegionPrefix>, String> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("all") {
        return Ok(Vec::new());
    }
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
}

fn join(p: &[RegionPrefix]) -> String {
    p.iter()
        .map(RegionPrefix::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.regions_text_or_all())?;
        if let Some(m) = &self.maintainer {
            write!(f, " (maintainer {m})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> RegionPrefix {
        s.parse().unwrap()
    }

    fn scope(r: &[&str], m: Option<&str>) -> Scope {
        Scope::new(r.iter().map(|s| p(s)), m.map(str::to_string))
    }

    #[test]
    fn prefixes_are_digits_only() {
        assert_eq!(p(" 3401 ").as_str(), "3401");
        for bad in ["", "34a", "%", "34_", "1234567890123", "３４"] {
            assert!(bad.parse::<RegionPrefix>().is_err(), "{bad:?}");
        }
        assert!("123456789012".parse::<RegionPrefix>().is_ok());
    }

    #[test]
    fn the_whole_fleet_sees_every_region() {
        let s = Scope::all();
        assert!(s.is_whole_fleet());
        assert!(s.sees_device("340104", None));
        assert!(s.sees_device("110101", Some("甲公司")));
        assert_eq!(s.to_string(), "all");
    }

    #[test]
    fn a_district_sees_only_itself() {
        let s = scope(&["340104"], None);
        assert!(s.sees_region("340104"));
        assert!(s.sees_region("340104001"));
        assert!(!s.sees_region("340103"));
        assert!(!s.sees_region("3401"), "a city is wider than the district");
        assert!(!s.sees_region(""));
    }

    #[test]
    fn a_contractor_sees_only_what_it_maintains() {
        let s = scope(&["3401"], Some("甲公司"));
        assert!(s.sees_device("340104", Some("甲公司")));
        assert!(!s.sees_device("340104", Some("乙公司")));
        assert!(!s.sees_device("340104", None), "unmaintained is not its");
        assert!(
            !s.sees_device("340204", Some("甲公司")),
            "outside the region"
        );
        assert!(s.sees_work_order("340104", Some("甲公司")));
        assert!(!s.sees_work_order("340104", None), "unassigned is nobody's");
        assert_eq!(s.to_string(), "3401 (maintainer 甲公司)");
    }

    #[test]
    fn covered_prefixes_are_dropped_and_order_does_not_matter() {
        let a = scope(&["340104", "34", "3401", "110101"], None);
        assert_eq!(a.regions_text(), "110101 34");
        assert_eq!(a, scope(&["34", "110101"], None));
        assert_eq!(
            scope(&[], Some(" ")),
            Scope::all(),
            "a blank maintainer is none"
        );
    }

    #[test]
    fn a_deserialized_scope_is_normalised() {
        let s: Scope =
            toml::from_str("regions = [\"340104\", \"34\"]\nmaintainer = \" \"").unwrap();
        assert_eq!(s, scope(&["34"], None));
        assert!(toml::from_str::<Scope>("regions = [\"3x\"]").is_err());
        let back: Scope = toml::from_str(&toml::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn containment() {
        let all = Scope::all();
        let anhui = scope(&["34"], None);
        let hefei = scope(&["3401"], None);
        let shushan = scope(&["340104"], None);
        let jia = scope(&["3401"], Some("甲公司"));
        assert!(all.contains(&anhui) && anhui.contains(&hefei) && hefei.contains(&shushan));
        assert!(!hefei.contains(&anhui));
        assert!(!hefei.contains(&all), "a region is not the whole fleet");
        assert!(hefei.contains(&jia), "the contractor's view is narrower");
        assert!(!jia.contains(&hefei), "…not wider");
        assert!(!jia.contains(&scope(&["3401"], Some("乙公司"))));
        assert!(scope(&["3401", "3402"], None).contains(&scope(&["340104", "3402"], None)));
        assert!(!scope(&["3401"], None).contains(&scope(&["340104", "3402"], None)));
    }

    #[test]
    fn narrowing() {
        let hefei = scope(&["3401"], None);
        assert_eq!(hefei.narrow(&[]).unwrap(), hefei);
        assert_eq!(
            hefei.narrow(&[p("340104")]).unwrap(),
            scope(&["340104"], None)
        );
        assert_eq!(
            hefei.narrow(&[p("34")]).unwrap_err(),
            "region 34 is outside the scope 3401"
        );
        let jia = scope(&[], Some("甲公司"));
        assert_eq!(
            jia.narrow(&[p("3401")]).unwrap(),
            scope(&["3401"], Some("甲公司")),
            "the maintainer stays"
        );
    }

    #[test]
    fn regions_parse_from_what_people_type() {
        assert_eq!(parse_regions("").unwrap(), vec![]);
        assert_eq!(parse_regions(" ALL ").unwrap(), vec![]);
        assert_eq!(
            parse_regions("340104, 3402 110101").unwrap(),
            vec![p("340104"), p("3402"), p("110101")]
        );
        assert!(parse_regions("3401,x").is_err());
    }

    fn arb_prefix() -> impl Strategy<Value = RegionPrefix> {
        "[1-4]{1,4}".prop_map(|s| s.parse().unwrap())
    }

    fn arb_scope() -> impl Strategy<Value = Scope> {
        (
            proptest::collection::vec(arb_prefix(), 0..4),
            proptest::option::of(prop_oneof![Just("甲"), Just("乙")]),
        )
            .prop_map(|(r, m)| Scope::new(r, m.map(str::to_string)))
    }

    fn arb_device() -> impl Strategy<Value = (String, Option<&'static str>)> {
        (
            "[1-4]{6}",
            proptest::option::of(prop_oneof![Just("甲"), Just("乙")]),
        )
    }

    proptest! {
        /// Containment means what it says: whatever the inner scope sees, the outer sees.
        #[test]
        fn contained_scopes_see_less(a in arb_scope(), b in arb_scope(),
                                     devs in proptest::collection::vec(arb_device(), 1..40)) {
            prop_assert!(a.contains(&a));
            if a.contains(&b) {
                for (region, m) in &devs {
                    if b.sees_device(region, *m) {
                        prop_assert!(a.sees_device(region, *m), "{a} ⊇ {b} but {region} {m:?}");
                    }
                }
            }
        }

        /// Dropping covered prefixes changes nothing that is seen, and the stored text reads
        /// back as the same scope.
        #[test]
        fn normalising_keeps_what_is_seen(raw in proptest::collection::vec(arb_prefix(), 0..6),
                                          region in "[1-4]{6}") {
            let s = Scope::new(raw.clone(), None);
            let naive = raw.is_empty() || raw.iter().any(|p| p.covers(&region));
            prop_assert_eq!(s.sees_region(&region), naive);
            let back = Scope::new(parse_regions(&s.regions_text()).unwrap(), None);
            prop_assert_eq!(back, s);
        }

        /// A narrowed scope is always inside the one it came from.
        #[test]
        fn narrowing_never_widens(a in arb_scope(),
                                  want in proptest::collection::vec(arb_prefix(), 0..3)) {
            if let Ok(n) = a.narrow(&want) {
                prop_assert!(a.contains(&n), "{a} narrowed to {n}");
            }
        }
    }
}
