//! Whether a register entry is a contract point yet. A device an operator imported is one from
//! the start; a channel that a GB/T 28181 catalog brought into the register is `Unconfirmed`
//! until an operator confirms it: it is monitored (its history is recorded from first sight)
//! but reports and availability leave it out, since nobody has agreed to pay for it yet.
//!
//! Must not: carry anything but the closed set; who confirmed and when are the store's.

use serde::{Deserialize, Serialize};

/// A register entry's standing as a contract point.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Confirmation {
    /// Found by a catalog, not yet accepted by an operator: monitored, not counted.
    Unconfirmed,
    /// Accepted (imported by an operator, or confirmed after a catalog found it): counted.
    Confirmed,
}
crate::text_enum!(Confirmation, "register confirmation");

impl Confirmation {
    /// Whether reports and availability count the entry.
    pub fn counts(self) -> bool {
        self == Self::Confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn names_round_trip_and_only_confirmed_counts() {
        for v in Confirmation::VARIANTS {
            assert_eq!(v.as_str().parse::<Confirmation>().unwrap(), *v);
        }
        assert!(Confirmation::Confirmed.counts());
        assert!(!Confirmation::Unconfirmed.counts());
        assert!("maybe".parse::<Confirmation>().is_err());
    }
}
