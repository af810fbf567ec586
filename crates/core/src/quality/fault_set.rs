//! A set of picture fault kinds: what a diagnosis found, what confirmation holds, what a
//! degraded device's cause names. A bit set, so it is `Copy`, compares and hashes cheaply, and
//! iterates in one fixed order (the order of [`FaultKind`]'s variants).

use strum::VariantArray;

use super::FaultKind;

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FaultSet(u16);

impl FaultSet {
    pub const EMPTY: FaultSet = FaultSet(0);

    fn bit(k: FaultKind) -> u16 {
        1 << (k as u16)
    }
    pub fn of(kinds: &[FaultKind]) -> Self {
        kinds.iter().copied().collect()
    }
    pub fn insert(&mut self, k: FaultKind) {
        self.0 |= Self::bit(k);
    }
    pub fn remove(&mut self, k: FaultKind) {
        self.0 &= !Self::bit(k);
    }
    pub fn contains(self, k: FaultKind) -> bool {
        self.0 & Self::bit(k) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The kinds, in `FaultKind` order.
    pub fn iter(self) -> impl Iterator<Item = FaultKind> {
        FaultKind::VARIANTS
            .iter()
            .copied()
            .filter(move |k| self.contains(*k))
    }
    /// The kinds' names, sorted by name: the order the stored text form uses.
    pub fn names(self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.iter().map(FaultKind::as_str).collect();
        v.sort_unstable();
        v
    }
}

impl FromIterator<FaultKind> for FaultSet {
    fn from_iter<I: IntoIterator<Item = FaultKind>>(it: I) -> Self {
        let mut s = Self::EMPTY;
        for k in it {
            s.insert(k);
        }
        s
    }
}

/// As a list of kind names, in `FaultKind` order.
impl serde::Serialize for FaultSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for FaultSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<FaultKind>::deserialize(d)?.into_iter().collect())
    }
}

impl std::fmt::Debug for FaultSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_bit() {
        assert!(FaultKind::VARIANTS.len() <= 16);
        let all: FaultSet = FaultKind::VARIANTS.iter().copied().collect();
        assert_eq!(all.len(), FaultKind::VARIANTS.len());
        for k in FaultKind::VARIANTS {
            let mut s = all;
            s.remove(*k);
            assert!(!s.contains(*k));
            assert_eq!(s.len(), all.len() - 1);
        }
    }

    #[test]
    fn names_are_sorted() {
        let s = FaultSet::of(&[FaultKind::SignalLoss, FaultKind::Blur, FaultKind::Frozen]);
        assert_eq!(s.names(), ["blur", "frozen", "signal_loss"]);
    }
}
