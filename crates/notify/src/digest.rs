//! The daily digest: once a day, at `[notify] digest_at` in the contract's time zone, one
//! message per contractor with open orders or orders closed since the previous digest: how
//! many are open, overdue and awaiting review, how many were closed, and the most urgent open
//! ones. Unassigned orders get a digest of their own (no contractor), for the video team.
//!
//! **Once a day, across restarts.** The outbox itself is the record: a digest is due when
//! today's slot has passed and no digest row was written since it. A restart after the rows
//! were written sends nothing more; a monitor that was down at the slot sends today's digest
//! when it starts (later that day), not the days it missed. When no target takes digests no
//! row is written, and nothing is lost by computing again.
//!
//! [`slots`] and [`digests`] are pure; [`DailyDigest`] reads the store and writes the outbox.

use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;

use camwatch_core::clock::SharedClock;
use camwatch_core::error::{Error, Result};
use camwatch_core::workorder::State;
use camwatch_store::Store;
use camwatch_store::workorders::{OrderFilter, WorkOrder};

use crate::config::Target;
use crate::message::{Digest, DigestOrder, MAX_DEVICES, Notification, NotificationKind, rows_for};

/// The local time of day the digest goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestTime {
    pub hour: i8,
    pub minute: i8,
}

impl std::str::FromStr for DigestTime {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not a time of day HH:MM");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let hour: i8 = h.parse().map_err(|_| bad())?;
        let minute: i8 = m.parse().map_err(|_| bad())?;
        if !(0..24).contains(&hour) || !(0..60).contains(&minute) || m.len() != 2 {
            return Err(bad());
        }
        Ok(Self { hour, minute })
    }
}

/// Today's slot (the digest time on `now`'s local date) and the next slot after `now`. On a
/// day the clocks change, a time that does not exist is taken after the gap, one that occurs
/// twice at its first occurrence (jiff's "compatible" rule).
pub fn slots(t: DigestTime, tz: &TimeZone, now: i64) -> (i64, i64) {
    let at = |date: jiff::civil::Date| {
        date.at(t.hour, t.minute, 0, 0)
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(i64::MAX)
    };
    let Ok(ts) = jiff::Timestamp::from_second(now) else {
        return (i64::MAX, i64::MAX);
    };
    let today = ts.to_zoned_datetime(tz.clone()).date();
    let slot = at(today);
    let next = if slot > now {
        slot
    } else {
        today.tomorrow().map_or(i64::MAX, at)
    };
    (slot, next)
}

/// The digests of `open` orders and of those `closed` since the previous digest, at `at`,
/// times in `time_zone`: one per contractor that has any, sorted by contractor, the
/// unassigned last.
pub fn digests(
    open: &[WorkOrder],
    closed: &[WorkOrder],
    at: i64,
    time_zone: &str,
) -> Vec<Notification> {
    use std::collections::BTreeMap;
    // `Some(name)` sorts after `None`; the unassigned are put last below.
    let mut by: BTreeMap<Option<&str>, (Digest, Vec<&WorkOrder>)> = BTreeMap::new();
    for o in open {
        let (d, list) = by.entry(o.life.contractor.as_deref()).or_default();
        d.open += 1;
        d.overdue += u64::from(overdue(o));
        d.awaiting_review += u64::from(o.life.state == State::AwaitingReview);
        list.push(o);
    }
    for o in closed {
        by.entry(o.life.contractor.as_deref()).or_default().0.closed += 1;
    }
    let mut out = Vec::with_capacity(by.len());
    let mut unassigned = None;
    for (contractor, (mut d, mut list)) in by {
        // Most urgent first: overdue, then by the deadline that applies now, then by number.
        list.sort_by_key(|o| (!overdue(o), due(o).unwrap_or(i64::MAX), o.id));
        d.orders = list
            .iter()
            .take(MAX_DEVICES)
            .map(|o| DigestOrder {
                order_id: o.id,
                title: o.title.clone(),
                state: o.life.state.as_str().to_string(),
                due_at: due(o),
                overdue: overdue(o),
            })
            .collect();
        let mut n = match contractor {
            Some(c) => Notification::digest(c, d, at),
            None => {
                let mut n = Notification::digest("", d, at);
                n.contractor = None;
                n.title = "未分配工单 每日汇总".into();
                n
            }
        };
        n.time_zone = time_zone.to_string();
        if contractor.is_some() {
            out.push(n);
        } else {
            unassigned = Some(n);
        }
    }
    out.extend(unassigned);
    out
}

fn overdue(o: &WorkOrder) -> bool {
    o.life.response_overdue_at.is_some() || o.life.repair_overdue_at.is_some()
}

/// The deadline that applies now: the response's until the contractor responds, then the
/// repair's.
fn due(o: &WorkOrder) -> Option<i64> {
    if o.life.accepted_at.is_none() && o.life.state == State::Pending {
        o.life.response_due_at.or(o.life.repair_due_at)
    } else {
        o.life.repair_due_at
    }
}

/// Writes the daily digest into the outbox when it is due.
#[derive(Clone)]
pub struct DailyDigest {
    store: Arc<dyn Store>,
    targets: Vec<Target>,
    clock: SharedClock,
    time: DigestTime,
    tz: TimeZone,
    tz_name: String,
}

impl DailyDigest {
    /// `time` is `[notify] digest_at`; `tz_name` the contract's zone.
    pub fn new(
        store: Arc<dyn Store>,
        targets: Vec<Target>,
        clock: SharedClock,
        time: DigestTime,
        tz_name: &str,
    ) -> Result<Self> {
        let tz = TimeZone::get(tz_name)
            .map_err(|e| Error::invalid(format!("digest time zone {tz_name:?}: {e}")))?;
        Ok(Self {
            store,
            targets,
            clock,
            time,
            tz,
            tz_name: tz_name.to_string(),
        })
    }

    /// Writes today's digest if its slot has passed and none was written since; returns the
    /// rows written (0 when not due, or when no target takes digests).
    pub async fn send_if_due(&self) -> Result<usize> {
        let now = self.clock.now().as_second();
        let (slot, _) = slots(self.time, &self.tz, now);
        if now < slot {
            return Ok(0);
        }
        let kind = NotificationKind::Digest.as_str();
        let last = self.store.latest_outbox_of_kind(kind).await?;
        if last.is_some_and(|l| l >= slot) {
            return Ok(0);
        }
        // Closed since the previous digest; the first one looks back a day.
        let since = last.unwrap_or(slot - 86_400);
        let open = self.store.open_work_orders().await?;
        let closed = self
            .store
            .list_work_orders(&OrderFilter {
                open: Some(false),
                closed_from: Some(since),
                ..OrderFilter::default()
            })
            .await?;
        let rows: Vec<_> = digests(&open, &closed, now, &self.tz_name)
            .iter()
            .flat_map(|n| rows_for(n, &self.targets))
            .collect();
        self.store.enqueue_outbox(&rows).await?;
        if !rows.is_empty() {
            tracing::info!(rows = rows.len(), "daily work-order digest written");
        }
        Ok(rows.len())
    }

    /// Sends each day's digest until `stop` resolves. A failed attempt (database down) is
    /// logged and tried again a minute later; the slot is not skipped.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let wait = match self.send_if_due().await {
                Ok(_) => {
                    let now = self.clock.now().as_second();
                    let (_, next) = slots(self.time, &self.tz, now);
                    Duration::from_secs(u64::try_from(next - now).unwrap_or(60).max(1))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "daily digest: will try again in a minute");
                    Duration::from_secs(60)
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = self.clock.sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::workorder::{Lifecycle, Origin};

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn at(local: &str) -> i64 {
        local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned_datetime(shanghai())
            .unwrap()
            .timestamp()
            .as_second()
    }

    #[test]
    fn slots_are_local_and_roll_at_the_slot() {
        let t: DigestTime = "08:30".parse().unwrap();
        let tz = shanghai();
        assert_eq!(
            slots(t, &tz, at("2026-12-04T08:29:59")),
            (at("2026-12-04T08:30"), at("2026-12-04T08:30"))
        );
        assert_eq!(
            slots(t, &tz, at("2026-12-04T08:30")),
            (at("2026-12-04T08:30"), at("2026-12-05T08:30"))
        );
        assert_eq!(
            slots(t, &tz, at("2026-12-31T23:59")),
            (at("2026-12-31T08:30"), at("2027-01-01T08:30"))
        );
    }

    #[test]
    fn a_day_the_clocks_change_still_has_its_slot() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let t: DigestTime = "02:30".parse().unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: after the gap, 03:30 CEST = 01:30 UTC.
        let now = jiff::Timestamp::from_second(1_774_742_400).unwrap(); // 2026-03-29T00:00Z
        let (slot, next) = slots(t, &tz, now.as_second());
        assert_eq!(slot, now.as_second() + 5400);
        assert_eq!(slot, next);
    }

    #[test]
    fn bad_times_are_named() {
        for s in ["8", "24:00", "08:60", "08:3", "a:b", ""] {
            let e = s.parse::<DigestTime>().unwrap_err();
            assert!(e.contains("is not a time of day"), "{s}: {e}");
        }
        assert_eq!(
            "00:00".parse::<DigestTime>(),
            Ok(DigestTime { hour: 0, minute: 0 })
        );
    }

    fn order(id: i64, contractor: Option<&str>, f: impl FnOnce(&mut Lifecycle)) -> WorkOrder {
        let mut life = Lifecycle {
            contractor: contractor.map(String::from),
            response_due_at: Some(1000 + id),
            repair_due_at: Some(5000 + id),
            ..Lifecycle::default()
        };
        f(&mut life);
        WorkOrder {
            id,
            subject: "34020000001320000001".parse().unwrap(),
            origin: Origin::Outage,
            cause: None,
            title: format!("工单 {id}"),
            level: "一般".into(),
            region: "340202".into(),
            fault_since: 0,
            opened_at: 0,
            life,
            version: 1,
        }
    }

    #[test]
    fn one_digest_per_contractor_most_urgent_first() {
        let open = [
            order(1, Some("甲"), |_| {}),
            order(2, Some("甲"), |l| l.repair_overdue_at = Some(5002)),
            order(3, Some("甲"), |l| {
                l.state = State::AwaitingReview;
                l.accepted_at = Some(10);
                l.repaired_at = Some(20);
            }),
            order(4, None, |_| {}),
        ];
        let closed = [
            order(5, Some("乙"), |l| l.state = State::Closed),
            order(6, Some("甲"), |l| l.state = State::Closed),
        ];
        let ds = digests(&open, &closed, 99, "Asia/Shanghai");
        let who: Vec<Option<&str>> = ds.iter().map(|n| n.contractor.as_deref()).collect();
        assert_eq!(who, [Some("乙"), Some("甲"), None]);
        let jia = ds[1].digest.as_ref().unwrap();
        assert_eq!(
            (jia.open, jia.overdue, jia.awaiting_review, jia.closed),
            (3, 1, 1, 1)
        );
        let ids: Vec<i64> = jia.orders.iter().map(|o| o.order_id).collect();
        // 2 is overdue; then 1 (response due 1001) before 3 (repair due 5003).
        assert_eq!(ids, [2, 1, 3]);
        assert_eq!(jia.orders[1].due_at, Some(1001));
        assert_eq!(jia.orders[2].due_at, Some(5003));
        let yi = ds[0].digest.as_ref().unwrap();
        assert_eq!((yi.open, yi.closed, yi.orders.len()), (0, 1, 0));
        assert_eq!(ds[2].title, "未分配工单 每日汇总");
        assert_eq!(ds[2].ordering_key(), "digest:");
        assert!(
            ds.iter()
                .all(|n| n.kind == NotificationKind::Digest && n.at == 99)
        );
        assert!(digests(&[], &[], 99, "Asia/Shanghai").is_empty());
    }

    #[test]
    fn a_long_list_is_cut() {
        let open: Vec<WorkOrder> = (1..=50).map(|i| order(i, Some("甲"), |_| {})).collect();
        let ds = digests(&open, &[], 0, "Asia/Shanghai");
        let d = ds[0].digest.as_ref().unwrap();
        assert_eq!((d.open, d.orders.len()), (50, MAX_DEVICES));
    }
}
