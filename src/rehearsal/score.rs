//! The truth side of a rehearsal: what the simulator did to each camera, counted with the
//! contract's semantics from the truth file alone (never from camwatch's own spans), so the
//! comparison with camwatch's report is independent.

use std::collections::{BTreeMap, HashMap};

use camwatch_core::error::{Error, Result};
use camwatch_sim::{Effect, TruthInterval};

/// Parses `--truth-out` JSON lines; a bad line is an error naming it.
pub fn parse_truth(text: &str, origin: &str) -> Result<Vec<TruthInterval>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::invalid(format!("{origin}:{}: {e}", i + 1)))
        })
        .collect()
}

/// Sorted, non-overlapping, non-touching union of half-open intervals.
pub fn union(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(a, b)| b > a);
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn total(v: &[(i64, i64)]) -> i64 {
    v.iter().map(|(a, b)| b - a).sum()
}

/// `a` minus `b`, both unions.
fn subtract(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(mut s, e) in a {
        for &(bs, be) in b {
            if be <= s || bs >= e {
                continue;
            }
            if bs > s {
                out.push((s, bs));
            }
            s = s.max(be);
            if s >= e {
                break;
            }
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

/// What really happened to each channel within a window.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthScore {
    pub from: i64,
    pub to: i64,
    /// Offline seconds per channel code (union of every offline-effect fault, clipped).
    pub offline_sec: HashMap<String, i64>,
    /// Separate offline intervals per channel (touching faults merged), clipped.
    pub outages: HashMap<String, u32>,
    /// Picture-fault seconds per fault kind, summed over channels, outside offline time.
    pub picture_sec: BTreeMap<String, i64>,
    pub channels: usize,
}

impl TruthScore {
    /// Time-weighted fleet online rate (no exemptions, no unknown time in the truth).
    pub fn online_rate(&self) -> f64 {
        let den = self.channels as f64 * (self.to - self.from) as f64;
        if den <= 0.0 {
            return 1.0;
        }
        1.0 - self.offline_sec.values().sum::<i64>() as f64 / den
    }
}

/// Scores `truth` over `[from, to)` for `channels` (codes of every channel, faulty or not).
pub fn score(truth: &[TruthInterval], channels: &[String], from: i64, to: i64) -> TruthScore {
    let mut offline: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    let mut picture: HashMap<(&str, &str), Vec<(i64, i64)>> = HashMap::new();
    for t in truth {
        let iv = (t.start.max(from), t.end.min(to));
        if iv.1 <= iv.0 {
            continue;
        }
        match t.effect {
            Effect::Offline => offline.entry(&t.device).or_default().push(iv),
            Effect::Degraded => picture.entry((&t.device, &t.fault)).or_default().push(iv),
            Effect::None => {}
        }
    }
    let offline: HashMap<&str, Vec<(i64, i64)>> =
        offline.into_iter().map(|(k, v)| (k, union(v))).collect();
    let mut picture_sec: BTreeMap<String, i64> = BTreeMap::new();
    for ((dev, kind), v) in picture {
        let off = offline.get(dev).map(Vec::as_slice).unwrap_or(&[]);
        *picture_sec.entry(kind.to_string()).or_default() += total(&subtract(&union(v), off));
    }
    TruthScore {
        from,
        to,
        offline_sec: channels
            .iter()
            .map(|c| (c.clone(), offline.get(c.as_str()).map_or(0, |v| total(v))))
            .collect(),
        outages: channels
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    offline.get(c.as_str()).map_or(0, |v| v.len() as u32),
                )
            })
            .collect(),
        picture_sec,
        channels: channels.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ti(dev: &str, fault: &str, effect: Effect, start: i64, end: i64) -> TruthInterval {
        TruthInterval {
            device: dev.into(),
            fault: fault.into(),
            effect,
            start,
            end,
        }
    }

    #[test]
    fn overlapping_faults_count_once_and_pictures_yield_to_outages() {
        let truth = vec![
            ti("a", "offline", Effect::Offline, 0, 100),
            ti("a", "nvr_down", Effect::Offline, 50, 150),
            ti("a", "blur", Effect::Degraded, 100, 300),
            ti("a", "slow", Effect::None, 0, 1000),
            ti("b", "black_hole", Effect::Offline, 900, 1200),
        ];
        let s = score(&truth, &["a".into(), "b".into(), "c".into()], 0, 1000);
        assert_eq!(s.offline_sec["a"], 150);
        assert_eq!(s.offline_sec["b"], 100);
        assert_eq!(s.offline_sec["c"], 0);
        assert_eq!(s.outages["a"], 1);
        assert_eq!(s.picture_sec["blur"], 150);
        assert!((s.online_rate() - (1.0 - 250.0 / 3000.0)).abs() < 1e-12);
    }

    #[test]
    fn bad_truth_line_is_named() {
        let e = parse_truth("\n{\"device\":1}\n", "truth.jsonl")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truth.jsonl:2:"), "{e}");
    }

    proptest! {
        #[test]
        fn union_is_disjoint_and_covers_the_same_points(v in prop::collection::vec((0i64..200, 0i64..50), 0..20)) {
            let ivs: Vec<(i64, i64)> = v.iter().map(|&(a, l)| (a, a + l)).collect();
            let u = union(ivs.clone());
            for w in u.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            for p in 0..260 {
                let inside = ivs.iter().any(|&(a, b)| a <= p && p < b);
                let inside_u = u.iter().any(|&(a, b)| a <= p && p < b);
                prop_assert_eq!(inside, inside_u);
            }
        }

        #[test]
        fn subtract_removes_exactly_the_other_set(a in prop::collection::vec((0i64..200, 0i64..50), 0..10),
                                                  b in prop::collection::vec((0i64..200, 0i64..50), 0..10)) {
            let ua = union(a.iter().map(|&(s, l)| (s, s + l)).collect());
            let ub = union(b.iter().map(|&(s, l)| (s, s + l)).collect());
            let d = subtract(&ua, &ub);
            for p in 0..260 {
                let want = ua.iter().any(|&(s, e)| s <= p && p < e) && !ub.iter().any(|&(s, e)| s <= p && p < e);
                prop_assert_eq!(want, d.iter().any(|&(s, e)| s <= p && p < e));
            }
        }
    }
}
