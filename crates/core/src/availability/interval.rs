//! Half-open second intervals `[start, end)` and the few set operations availability needs.

/// `[start, end)`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: i64,
    pub end: i64,
}

impl Interval {
    pub fn new(start: i64, end: i64) -> Self {
        Self { start, end }
    }
    pub fn len(self) -> i64 {
        (self.end - self.start).max(0)
    }
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }
    pub fn intersect(self, o: Interval) -> Interval {
        Interval::new(self.start.max(o.start), self.end.min(o.end))
    }
    pub fn contains(self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
}

/// Sorts and merges overlapping or touching intervals; drops empty ones.
pub fn union(mut v: Vec<Interval>) -> Vec<Interval> {
    v.retain(|i| !i.is_empty());
    v.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for i in v {
        match out.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => out.push(i),
        }
    }
    out
}

/// Total length of `i ∩ set` where `set` is sorted and disjoint (from `union`).
pub fn overlap(i: Interval, set: &[Interval]) -> i64 {
    // `set` is short (a device's exemptions), a linear scan beats anything clever.
    set.iter().map(|s| s.intersect(i).len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn union_merges() {
        let u = union(vec![
            Interval::new(5, 10),
            Interval::new(0, 3),
            Interval::new(3, 4),
            Interval::new(8, 12),
            Interval::new(20, 20),
        ]);
        assert_eq!(u, vec![Interval::new(0, 4), Interval::new(5, 12)]);
        assert_eq!(overlap(Interval::new(2, 6), &u), 3);
    }

    proptest! {
        #[test]
        fn union_preserves_coverage(v in proptest::collection::vec((0i64..100, 0i64..30), 0..20), t in 0i64..130) {
            let iv: Vec<Interval> = v.iter().map(|(a, l)| Interval::new(*a, a + l)).collect();
            let u = union(iv.clone());
            prop_assert_eq!(iv.iter().any(|i| i.contains(t)), u.iter().any(|i| i.contains(t)));
            prop_assert!(u.windows(2).all(|w| w[0].end < w[1].start));
        }
    }
}
