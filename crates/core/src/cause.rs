//! Why a device is not online: one typed [`Cause`], used by health, the monitor, the store,
//! reports and (later) work orders and the API. Modules pass the enum; text exists only where a
//! cause is stored or exported.
//!
//! ## The text form (stable: spans in the database and exported history use it)
//!
//! | cause                     | text                                   |
//! |---------------------------|----------------------------------------|
//! | a probe failure           | the failure kind: `connection_refused`, `auth_failed`, `rtsp_status`, … |
//! | the parent is down        | `parent_down:<the parent's 20-digit code>` |
//! | picture faults            | the fault kinds sorted by name, comma-separated: `blur,frozen` |
//! | no media                  | `no_media` (the stream negotiates, no picture arrives) |
//! | bad image                 | `bad_image` (the picture cannot be decoded) |
//! | not watched               | `not_watched` (camwatch itself was not watching) |
//! | anything else             | kept verbatim (history imported from another system) |
//!
//! Parsing is the exact inverse for every text camwatch writes, so a span written by any
//! earlier version reads back as the same cause (tested below on every form). A text that is
//! none of these (an imported history's own words, such as `refused`) is [`Cause::Other`], so
//! an import never loses what it was given.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::outcome::FailureKind;
use crate::quality::{FaultKind, FaultSet};
use crate::registry::DeviceCode;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cause {
    /// The device's own probe failed this way. Never `NoMedia` or `BadImage`: those have their
    /// own variants (build with [`Cause::from_failure`]).
    Failure(FailureKind),
    /// The parent (NVR, encoder, lower platform) was down when the device's outage was
    /// confirmed: one fault upstream, not one per channel.
    ParentDown(DeviceCode),
    /// Picture faults confirmed by diagnostics; never empty (build with [`Cause::picture`]).
    Picture(FaultSet),
    /// The stream negotiates but no picture arrives.
    NoMedia,
    /// The picture arrives but cannot be decoded.
    BadImage,
    /// camwatch was not watching (stopped, crashed, behind).
    NotWatched,
    /// A cause camwatch did not write, kept verbatim (imported history).
    Other(String),
}

impl Cause {
    /// The cause of a failed probe.
    pub fn from_failure(k: FailureKind) -> Self {
        match k {
            FailureKind::NoMedia => Self::NoMedia,
            FailureKind::BadImage => Self::BadImage,
            k => Self::Failure(k),
        }
    }

    /// Picture faults as a cause; `None` for a normal picture.
    pub fn picture(faults: FaultSet) -> Option<Self> {
        (!faults.is_empty()).then_some(Self::Picture(faults))
    }

    /// The picture faults this cause names (empty for any other cause).
    pub fn picture_faults(&self) -> FaultSet {
        match self {
            Self::Picture(f) => *f,
            _ => FaultSet::EMPTY,
        }
    }

    /// The cause's family, for grouping ("by cause" tables): the failure kind, `parent_down`,
    /// `picture`, `no_media`, `bad_image`, `not_watched` or `other`.
    pub fn family(&self) -> &'static str {
        match self {
            Self::Failure(k) => k.as_str(),
            Self::ParentDown(_) => "parent_down",
            Self::Picture(_) => "picture",
            Self::NoMedia => "no_media",
            Self::BadImage => "bad_image",
            Self::NotWatched => "not_watched",
            Self::Other(_) => "other",
        }
    }
}

const PARENT_DOWN: &str = "parent_down:";

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failure(k) => f.write_str(k.as_str()),
            Self::ParentDown(code) => write!(f, "{PARENT_DOWN}{code}"),
            Self::Picture(faults) => f.write_str(&faults.names().join(",")),
            Self::NoMedia => f.write_str("no_media"),
            Self::BadImage => f.write_str("bad_image"),
            Self::NotWatched => f.write_str("not_watched"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl FromStr for Cause {
    type Err = std::convert::Infallible;
    /// Never fails: what is not one of camwatch's forms is `Other`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(code) = s.strip_prefix(PARENT_DOWN)
            && let Ok(code) = code.parse::<DeviceCode>()
        {
            return Ok(Self::ParentDown(code));
        }
        if s == "not_watched" {
            return Ok(Self::NotWatched);
        }
        if let Ok(k) = s.parse::<FailureKind>()
            && s == k.as_str()
        {
            return Ok(Self::from_failure(k));
        }
        if !s.is_empty() {
            let kinds: Result<FaultSet, _> = s.split(',').map(str::parse::<FaultKind>).collect();
            // Only the exact form camwatch writes, so that text reads back unchanged.
            if let Ok(set) = kinds
                && set.names().join(",") == s
            {
                return Ok(Self::Picture(set));
            }
        }
        Ok(Self::Other(s.to_string()))
    }
}

impl Serialize for Cause {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cause {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_else(|never| match never {}))
    }
}

/// Reads a stored cause column.
pub fn from_stored(s: Option<&str>) -> Option<Cause> {
    s.filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|never| match never {}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strum::VariantArray;

    fn round_trip(c: &Cause) {
        let text = c.to_string();
        let back: Cause = text.parse().unwrap();
        assert_eq!(&back, c, "{text}");
        assert_eq!(back.to_string(), text);
    }

    #[test]
    fn every_form_camwatch_writes_reads_back_the_same() {
        for k in FailureKind::VARIANTS {
            round_trip(&Cause::from_failure(*k));
        }
        round_trip(&Cause::ParentDown("34010400001180000001".parse().unwrap()));
        round_trip(&Cause::NoMedia);
        round_trip(&Cause::BadImage);
        round_trip(&Cause::NotWatched);
        round_trip(&Cause::Other("refused".into()));
    }

    /// Texts stored by earlier versions (the monitor wrote strings) read as typed causes.
    #[test]
    fn stored_texts_of_earlier_versions() {
        let p = |s: &str| s.parse::<Cause>().unwrap();
        assert_eq!(
            p("connection_refused"),
            Cause::Failure(FailureKind::ConnectionRefused)
        );
        assert_eq!(p("no_media"), Cause::NoMedia);
        assert_eq!(p("bad_image"), Cause::BadImage);
        assert_eq!(
            p("parent_down:34010400001180000001"),
            Cause::ParentDown("34010400001180000001".parse().unwrap())
        );
        assert_eq!(
            p("blur,frozen"),
            Cause::Picture(FaultSet::of(&[FaultKind::Frozen, FaultKind::Blur]))
        );
        // Not camwatch's forms: kept verbatim.
        for s in ["refused", "frozen,blur", "parent_down:123", "blur,", "Blur"] {
            assert_eq!(p(s), Cause::Other(s.into()), "{s}");
        }
        assert_eq!(from_stored(Some("")), None);
        assert_eq!(from_stored(None), None);
    }

    #[test]
    fn families_group_causes() {
        assert_eq!(
            Cause::from_failure(FailureKind::AuthFailed).family(),
            "auth_failed"
        );
        assert_eq!(
            Cause::ParentDown("34010400001180000001".parse().unwrap()).family(),
            "parent_down"
        );
        assert_eq!(
            Cause::Picture(FaultSet::of(&[FaultKind::Blur])).family(),
            "picture"
        );
    }

    proptest! {
        /// Every set of picture faults, and any text at all, reads back as itself.
        #[test]
        fn any_cause_round_trips(bits in 1u16..(1 << 10), text in ".{0,40}") {
            let set: FaultSet = FaultKind::VARIANTS
                .iter()
                .copied()
                .filter(|k| bits & (1 << (*k as u16)) != 0)
                .collect();
            round_trip(&Cause::Picture(set));
            let c: Cause = text.parse().unwrap();
            prop_assert_eq!(c.to_string(), text);
        }
    }
}
