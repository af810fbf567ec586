//! Text forms of closed sets, from one table each. Every enum that is stored, exported or typed
//! by a user derives its names with `strum` (`IntoStaticStr`, `VariantArray`, snake_case), so
//! `as_str` and parsing can never disagree; [`parse`] gives the one error message users see
//! for an unknown name, listing the names that would have been accepted.
//!
//! These text forms are for the storage and export boundary and for people; between modules
//! the enums themselves travel.

/// Parses `s` (surrounding blanks ignored) as one of `T`'s names; `what` names the set in the
/// error ("status", "failure kind").
pub fn parse<T>(s: &str, what: &str) -> Result<T, String>
where
    T: strum::VariantArray + Copy + Into<&'static str>,
{
    let s = s.trim();
    T::VARIANTS
        .iter()
        .copied()
        .find(|v| Into::<&'static str>::into(*v) == s)
        .ok_or_else(|| {
            let names: Vec<&'static str> = T::VARIANTS.iter().map(|v| (*v).into()).collect();
            format!(
                "unknown {what} {s:?} (expected one of: {})",
                names.join(", ")
            )
        })
}

/// `as_str`, `Display` and `FromStr` for an enum deriving `strum::IntoStaticStr` and
/// `strum::VariantArray`: `text_enum!(Status, "status");`.
#[macro_export]
macro_rules! text_enum {
    ($t:ty, $what:literal) => {
        impl $t {
            /// The stable text form (storage, export, CLI).
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $crate::text::parse(s, $what)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::history::Status;
    use crate::outcome::FailureKind;
    use crate::quality::FaultKind;
    use strum::VariantArray;

    /// Every name reads back as its variant, for every closed set that is stored.
    #[test]
    fn names_round_trip() {
        for v in Status::VARIANTS {
            assert_eq!(v.as_str().parse::<Status>().unwrap(), *v);
        }
        for v in FailureKind::VARIANTS {
            assert_eq!(v.as_str().parse::<FailureKind>().unwrap(), *v);
        }
        for v in FaultKind::VARIANTS {
            assert_eq!(v.as_str().parse::<FaultKind>().unwrap(), *v);
        }
        assert_eq!(FailureKind::DnsOrRoute.as_str(), "dns_or_route");
        assert_eq!(FaultKind::SignalLoss.as_str(), "signal_loss");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = "sleeping".parse::<Status>().unwrap_err();
        assert_eq!(
            e,
            "unknown status \"sleeping\" (expected one of: online, degraded, offline, unknown)"
        );
    }
}
