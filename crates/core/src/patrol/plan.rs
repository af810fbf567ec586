//! The rotation plan: which channels are a working day's patrol batch.
//!
//! The rule, reproducible from the codes, the rules and the calendar alone (no stored state):
//! - Each channel has a fixed 64-bit hash of its code ([`code_hash`]), and so a fixed group:
//!   `hash % cycle_days`. Working day number `k` (working days counted from [`EPOCH`] on the
//!   contract's calendar, [`working_day_index`]) takes group `k % cycle_days`.
//! - A group smaller than the quota is topped up to `min(quota, n)` channels with others, in
//!   an order salted by `k`, so the extra looks spread over the fleet rather than always
//!   falling on the same channels.
//!
//! Invariants (property-tested):
//! - Every channel is in at least one batch of any `cycle_days` consecutive working days: its
//!   group comes round once every `cycle_days` days. This holds while the fleet changes too: a
//!   channel's group depends on its own code only.
//! - A batch has at least `min(quota, n)` channels, so no working day is empty while there is
//!   a fleet; it has about `max(quota, n / cycle_days)` (the groups' sizes vary as a hash does).
//! - Adding or removing a channel moves no other channel to another day (only the top-ups,
//!   which are extra looks, may change).
//! - Days that are not working days have no batch.
//!
//! Why fixed groups rather than slices of a sorted ring cut by position: a position-based cut
//! shifts every channel after a removed one by a place, and the one at a day's edge then waits
//! a whole round more; and groups sized to the fleet (`n / quota` of them) change when the
//! fleet crosses a multiple of the quota, which can leave a channel out of a whole cycle.
//!
//! Cost: a batch is one pass over the fleet (the hashes are computed once per [`Plan`]);
//! a day's number is one pass over the calendar's days since [`EPOCH`] (about 10,000).
//!
//! Must not: change [`code_hash`] or [`EPOCH`]: either would move every channel to another
//! day, and yesterday's plan could no longer be reproduced.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::calendar::WorkCalendar;
use crate::registry::DeviceCode;

/// Day 0 of the working-day count: Monday 3 January 2000.
pub const EPOCH: Date = jiff::civil::date(2000, 1, 3);

/// The plan's two numbers (`[patrol]` in `camwatch.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRules {
    /// Channels a working day's batch holds at least (when the fleet has that many); ≥ 1.
    pub quota: u32,
    /// Every channel is seen within this many working days; ≥ 1.
    pub cycle_days: u32,
}

/// FNV-1a over the code's 20 digits, then the splitmix64 finaliser (FNV alone leaves codes
/// that differ in the last digit close together). Fixed forever: see the module doc.
pub fn code_hash(code: &DeviceCode) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in code.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The number of working days in `[EPOCH, date)` (negative before the epoch): working day `k`
/// of the plan. `None` when `date` is not a working day (no batch that day).
pub fn working_day_index(cal: &WorkCalendar, date: Date) -> Option<i64> {
    if !cal.is_working_day(date) {
        return None;
    }
    let (from, to, sign) = if date >= EPOCH {
        (EPOCH, date, 1)
    } else {
        (date, EPOCH, -1)
    };
    let mut k = 0i64;
    let mut d = from;
    while d < to {
        if cal.is_working_day(d) {
            k += 1;
        }
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    Some(sign * k)
}

/// The plan of one fleet (the confirmed channels of a scope) under one set of rules.
#[derive(Debug, Clone)]
pub struct Plan {
    rules: PlanRules,
    /// Sorted by code, no duplicates.
    fleet: Vec<(DeviceCode, u64)>,
}

impl Plan {
    /// The plan of `codes` (duplicates ignored). Rules below 1 count as 1.
    pub fn new(codes: impl IntoIterator<Item = DeviceCode>, rules: PlanRules) -> Self {
        let rules = PlanRules {
            quota: rules.quota.max(1),
            cycle_days: rules.cycle_days.max(1),
        };
        let mut fleet: Vec<(DeviceCode, u64)> =
            codes.into_iter().map(|c| (c, code_hash(&c))).collect();
        fleet.sort_unstable_by_key(|(c, _)| *c);
        fleet.dedup_by_key(|(c, _)| *c);
        Self { rules, fleet }
    }

    pub fn rules(&self) -> PlanRules {
        self.rules
    }

    /// How many channels the plan rotates through.
    pub fn fleet_len(&self) -> usize {
        self.fleet.len()
    }

    /// Whether `code` is in the plan's fleet.
    pub fn contains(&self, code: &DeviceCode) -> bool {
        self.fleet.binary_search_by_key(code, |(c, _)| *c).is_ok()
    }

    /// The group of `code`: the working days `k` with `k % cycle_days` equal to it see it.
    pub fn group_of(&self, code: &DeviceCode) -> u32 {
        (code_hash(code) % u64::from(self.rules.cycle_days)) as u32
    }

    /// The least a batch holds: `min(quota, fleet)`.
    pub fn required(&self) -> usize {
        (self.rules.quota as usize).min(self.fleet.len())
    }

    /// The batch of working day number `k`, sorted by code.
    pub fn batch(&self, k: i64) -> Vec<DeviceCode> {
        let slots = u64::from(self.rules.cycle_days);
        let slot = k.rem_euclid(slots as i64) as u64;
        let mut out: Vec<DeviceCode> = Vec::new();
        let mut rest: Vec<(u64, DeviceCode)> = Vec::new();
        let salt = mix(k as u64 ^ 0x9e37_79b9_7f4a_7c15);
        for (c, h) in &self.fleet {
            if h % slots == slot {
                out.push(*c);
            } else {
                rest.push((mix(h ^ salt), *c));
            }
        }
        let want = self.required();
        if out.len() < want {
            let extra = want - out.len();
            rest.select_nth_unstable_by_key(extra - 1, |(r, c)| (*r, *c));
            out.extend(rest[..extra].iter().map(|(_, c)| *c));
            out.sort_unstable();
        }
        out
    }

    /// The batch of `date` on `cal`: `None` when it is not a working day.
    pub fn batch_on(&self, cal: &WorkCalendar, date: Date) -> Option<Vec<DeviceCode>> {
        working_day_index(cal, date).map(|k| self.batch(k))
    }
}
