//! The spans of a report's read, gathered compactly as they arrive and handed over in
//! (device, start, end) order.
//!
//! A month of a large fleet is millions of spans, read as two parts at once (two id ranges on
//! SQLite, two halves of the partition on PostgreSQL). Memory is what costs here: on the
//! machines measured, touching fresh memory costs about 0.7 ms a megabyte, and a
//! `StatusSpan` is 72 bytes (its cause is an enum that can hold a string). So a part is read
//! into [`ReadSpans`]: rows of 48 bytes whose cause is a number into the part's table of the
//! causes it met (a month holds a few hundred distinct ones, most spans none). Each part's
//! rows are sorted on the part's own thread; the two sorted parts are then merged as two
//! stretches at once, everything below a pivot row on one thread and everything from it on
//! on the other, each writing its own stretch of the result as `StatusSpan`s. For the
//! 300,000-channel report (6 M spans) that is 290 MB of rows and the 430 MB result, where
//! spans read whole, keys to sort them by and the result took 1,060 MB
//! (docs/performance.md).
//!
//! The order is that of a stable sort of the parts one after the other: spans equal in
//! (device, start, end) keep the order they were read in, the first part's first.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use camwatch_core::cause::Cause;
use camwatch_core::error::{Error, Result};
use camwatch_core::history::{Status, StatusSpan};
use camwatch_core::registry::DeviceCode;

/// Under this many spans, one thread sorts and merges them all.
const PARALLEL_FROM: usize = 200_000;

/// One span as read: its cause is `causes[cause - 1]` of its part (0: none), `place` its
/// place in the part (what keeps equal spans in the order they were read).
#[derive(Clone, Copy)]
struct Row {
    device: DeviceCode,
    start_at: i64,
    end_at: i64,
    cause: u32,
    place: u32,
    status: Status,
}

impl Row {
    fn order(&self) -> (DeviceCode, i64, i64) {
        (self.device, self.start_at, self.end_at)
    }
}

/// One part of a read: spans in the order they arrived, kept compact (see the module doc).
#[derive(Default)]
pub(crate) struct ReadSpans {
    rows: Vec<Row>,
    causes: Vec<Cause>,
    by_text: HashMap<Box<str>, u32>,
}

impl ReadSpans {
    /// Adds a span; `cause` as stored (`None` or empty: none).
    pub(crate) fn push(
        &mut self,
        device: DeviceCode,
        status: Status,
        start_at: i64,
        end_at: i64,
        cause: Option<&str>,
    ) -> Result<()> {
        let place = u32::try_from(self.rows.len())
            .map_err(|_| Error::internal("more than 4 G spans in one part of a read"))?;
        let cause = match cause.filter(|c| !c.is_empty()) {
            None => 0,
            Some(text) => match self.by_text.get(text) {
                Some(&id) => id,
                None => {
                    self.causes
                        .extend(camwatch_core::cause::from_stored(Some(text)));
                    let id = self.causes.len() as u32;
                    self.by_text.insert(text.into(), id);
                    id
                }
            },
        };
        self.rows.push(Row {
            device,
            start_at,
            end_at,
            cause,
            place,
            status,
        });
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// All the rows, with the causes their numbers refer to.
    fn run(&self) -> Run<'_> {
        Run {
            rows: &self.rows,
            causes: &self.causes,
        }
    }

    /// `other`'s spans after these, in their order.
    fn append(&mut self, other: ReadSpans) {
        let base = self.rows.len() as u32;
        let offset = self.causes.len() as u32;
        self.causes.extend(other.causes);
        self.rows.extend(other.rows.into_iter().map(|r| Row {
            cause: if r.cause == 0 { 0 } else { r.cause + offset },
            place: base + r.place,
            ..r
        }));
    }
}

/// A stretch of sorted rows with the causes their numbers refer to.
#[derive(Clone, Copy)]
struct Run<'a> {
    rows: &'a [Row],
    causes: &'a [Cause],
}

impl<'a> Run<'a> {
    fn split_at(self, i: usize) -> (Run<'a>, Run<'a>) {
        let (a, b) = self.rows.split_at(i);
        (
            Run {
                rows: a,
                causes: self.causes,
            },
            Run {
                rows: b,
                causes: self.causes,
            },
        )
    }

    fn span(&self, i: usize) -> StatusSpan {
        let r = &self.rows[i];
        StatusSpan {
            device: r.device,
            status: r.status,
            start_at: r.start_at,
            end_at: r.end_at,
            cause: (r.cause > 0).then(|| self.causes[r.cause as usize - 1].clone()),
        }
    }
}

/// The spans of `parts`, read in that order, in (device, start, end) order.
pub(crate) fn sort_spans(mut parts: Vec<ReadSpans>) -> Vec<StatusSpan> {
    let n: usize = parts.iter().map(ReadSpans::len).sum();
    let threads = n >= PARALLEL_FROM;
    // Two parts: what the backends read. One part is sorted as its halves; more than two
    // are taken as one.
    if parts.len() > 2 {
        let mut all = ReadSpans::default();
        for p in parts.drain(..) {
            all.append(p);
        }
        parts.push(all);
    }
    let second = if parts.len() == 2 { parts.pop() } else { None };
    let mut first = parts.pop().unwrap_or_default();
    let sorted = match second {
        Some(mut second) => {
            both(threads, || sort(&mut first.rows), || sort(&mut second.rows));
            let sorted = merge(first.run(), second.run(), threads);
            drop_aside(second);
            sorted
        }
        None => {
            let mid = first.rows.len() / 2;
            let (low, high) = first.rows.split_at_mut(mid);
            both(threads, || sort(low), || sort(high));
            let (a, b) = first.run().split_at(mid);
            merge(a, b, threads)
        }
    };
    drop_aside(first);
    sorted
}

/// Runs `f` and `g`, on two threads when `threads`.
fn both(threads: bool, f: impl FnOnce() + Send, g: impl FnOnce() + Send) {
    if threads {
        std::thread::scope(|sc| {
            let h = sc.spawn(f);
            g();
            h.join().expect("a span sorting thread panicked");
        });
    } else {
        f();
        g();
    }
}

/// Rows in (device, start, end, place) order: a stable sort's, as places are distinct.
fn sort(rows: &mut [Row]) {
    if !rows.is_sorted_by_key(|r| (r.order(), r.place)) {
        rows.sort_unstable_by_key(|r| (r.order(), r.place));
    }
}

/// Frees a part off the caller's path: unmapping hundreds of megabytes takes a moment.
fn drop_aside(part: ReadSpans) {
    if part.rows.len() >= PARALLEL_FROM {
        std::thread::spawn(move || drop(part));
    }
}

/// Sorted runs `a` and `b` as one sorted run of spans, `a`'s first among equals. With
/// `threads`, below the middle row of `a` they are merged on one thread, from it on on
/// another, each writing its own stretch of the result.
fn merge(a: Run<'_>, b: Run<'_>, threads: bool) -> Vec<StatusSpan> {
    let n = a.rows.len() + b.rows.len();
    let mut out: Vec<StatusSpan> = Vec::with_capacity(n);
    let slots = &mut out.spare_capacity_mut()[..n];
    match a.rows.get(a.rows.len() / 2).map(Row::order) {
        Some(pivot) if threads => {
            let i = a.rows.partition_point(|r| r.order() < pivot);
            let j = b.rows.partition_point(|r| r.order() < pivot);
            let ((a_low, a_high), (b_low, b_high)) = (a.split_at(i), b.split_at(j));
            let (low, high) = slots.split_at_mut(i + j);
            std::thread::scope(|sc| {
                let second = sc.spawn(|| merge_into(a_high, b_high, high));
                merge_into(a_low, b_low, low);
                second.join().expect("a span merging thread panicked");
            });
        }
        _ => merge_into(a, b, slots),
    }
    // SAFETY: `merge_into` wrote every one of the first `n` elements: the slots it was given
    // are those `n` (all of them, or two stretches that split them), and it writes each slot
    // of its own, after checking that it has a row for each. Should it panic, this is not
    // reached, and the spans written merely leak.
    unsafe { out.set_len(n) };
    out
}

/// Writes the spans of `a` and `b`, merged, into `out`: one slot each, all of them.
fn merge_into(a: Run<'_>, b: Run<'_>, out: &mut [MaybeUninit<StatusSpan>]) {
    assert_eq!(out.len(), a.rows.len() + b.rows.len(), "one slot per span");
    let (mut x, mut y) = (0, 0);
    for slot in out {
        let from_a =
            y == b.rows.len() || (x < a.rows.len() && a.rows[x].order() <= b.rows[y].order());
        let span = if from_a {
            x += 1;
            a.span(x - 1)
        } else {
            y += 1;
            b.span(y - 1)
        };
        slot.write(span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(spans: &[StatusSpan]) -> ReadSpans {
        let mut r = ReadSpans::default();
        for s in spans {
            let cause = s.cause.as_ref().map(|c| c.to_string());
            r.push(s.device, s.status, s.start_at, s.end_at, cause.as_deref())
                .unwrap();
        }
        r
    }

    fn sorted(parts: &[Vec<StatusSpan>]) -> Vec<StatusSpan> {
        sort_spans(parts.iter().map(|p| read(p)).collect())
    }

    fn plain(parts: &[Vec<StatusSpan>]) -> Vec<StatusSpan> {
        let mut want = parts.concat();
        want.sort_by_key(|s| (s.device, s.start_at, s.end_at));
        want
    }

    fn random_spans(n: usize, seed: u64) -> Vec<StatusSpan> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let causes = [
            "no_answer",
            "auth_failed",
            "blur,noise",
            "parent_down:34020000001320000009",
            "x-imported",
        ];
        (0..n)
            .map(|_| {
                let n = next();
                StatusSpan {
                    device: format!("3402000000132{:07}", n % 5000).parse().unwrap(),
                    status: if n % 3 == 0 {
                        Status::Online
                    } else {
                        Status::Offline
                    },
                    start_at: (n >> 20) as i64 % 100_000,
                    end_at: 100_000 + (n >> 40) as i64 % 7,
                    cause: camwatch_core::cause::from_stored(
                        (n % 7 < 5).then(|| causes[(n % 7) as usize]),
                    ),
                }
            })
            .collect()
    }

    /// Large enough for the threads: two parts, one part, three parts, a sorted part, an
    /// empty one; causes from each part's own table.
    #[test]
    fn the_threads_sort_as_a_plain_stable_sort() {
        let a = random_spans(150_000, 0x2545_F491_4F6C_DD1D);
        let b = random_spans(120_000, 0x9E37_79B9_7F4A_7C15);
        let mut in_order = random_spans(130_000, 7);
        in_order.sort_by_key(|s| (s.device, s.start_at, s.end_at));
        for parts in [
            vec![a.clone(), b.clone()],
            vec![b.clone(), a.clone()],
            vec![a.clone()],
            vec![a.clone(), Vec::new()],
            vec![Vec::new(), b.clone()],
            vec![a.clone(), b.clone(), in_order.clone()],
            vec![in_order.clone(), a.clone()],
            vec![in_order.clone()],
        ] {
            assert_eq!(sorted(&parts), plain(&parts));
        }
        assert!(sorted(&[]).is_empty());
    }

    proptest::proptest! {
        /// Any spans in any parts, negative and huge starts included, come out as a stable
        /// sort by (device, start, end) of the parts one after the other puts them; statuses
        /// and causes tell equal keys apart.
        #[test]
        fn sorted_as_a_plain_stable_sort(
            parts in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        0u32..40,
                        proptest::prop_oneof![-5i64..5, 0i64..1000, proptest::strategy::Just(i64::MAX / 2)],
                        0i64..5,
                        proptest::bool::ANY,
                        proptest::option::of(proptest::sample::select(vec!["no_answer", "", "blur", "other text"])),
                    ),
                    0..300,
                ),
                0..4,
            )
        ) {
            let parts: Vec<Vec<StatusSpan>> = parts
                .into_iter()
                .map(|p| p.into_iter().map(|(d, start, len, up, cause)| StatusSpan {
                    device: format!("34020000001320{d:06}").parse().unwrap(),
                    status: if up { Status::Online } else { Status::Offline },
                    start_at: start,
                    end_at: start.saturating_add(len),
                    cause: camwatch_core::cause::from_stored(cause),
                }).collect())
                .collect();
            proptest::prop_assert_eq!(sorted(&parts), plain(&parts));
        }

        /// The merge on two threads, whatever the pivot falls on: ties across the runs keep
        /// the first run's first.
        #[test]
        fn merged_on_threads_keeps_the_first_runs_first(
            a in proptest::collection::vec((0u32..4, 0i64..4, proptest::bool::ANY), 0..60),
            b in proptest::collection::vec((0u32..4, 0i64..4, proptest::bool::ANY), 0..60),
        ) {
            let part = |v: Vec<(u32, i64, bool)>| -> Vec<StatusSpan> {
                let mut p: Vec<StatusSpan> = v.into_iter().map(|(d, start, up)| StatusSpan {
                    device: format!("34020000001320{d:06}").parse().unwrap(),
                    status: if up { Status::Online } else { Status::Offline },
                    start_at: start,
                    end_at: start + 1,
                    cause: up.then_some(Cause::NoMedia),
                }).collect();
                p.sort_by_key(|s| (s.device, s.start_at, s.end_at));
                p
            };
            let (a, b) = (part(a), part(b));
            let want = plain(&[a.clone(), b.clone()]);
            let (ra, rb) = (read(&a), read(&b));
            proptest::prop_assert_eq!(merge(ra.run(), rb.run(), true), want);
        }
    }
}
