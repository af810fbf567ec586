//! Collecting a catalog that arrives in pages: a device answers one Catalog query with several
//! MESSAGEs, each carrying some items and the total (`SumNum`). The collector assembles them per
//! (device, SN) into one catalog.
//!
//! Invariants: a catalog is complete when it holds `SumNum` distinct channels (a page repeated
//! by a retransmission adds nothing, and one arriving after its catalog completed is dropped
//! instead of opening a new assembly that would end as a spurious partial catalog: completed
//! catalogs are remembered for [`CATALOG_DEADLINE_SEC`], at most [`MAX_DONE`]); one holds at most [`MAX_CATALOG_ITEMS`] items whatever a
//! device claims; an assembly not complete within its deadline is given up and reported as
//! partial, so a device that stops half way never holds memory for ever.
//!
//! Must not: do I/O or read a clock (time is passed in, Unix seconds).

use std::collections::HashMap;

use crate::manscdp::{CatalogItem, MAX_CATALOG_ITEMS};

/// How long after the query the pages may keep coming, seconds.
pub const CATALOG_DEADLINE_SEC: i64 = 120;
/// Completed catalogs remembered to drop their late pages (10,000 devices answering at once
/// fit several times over).
pub const MAX_DONE: usize = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub device_id: String,
    pub sn: u32,
    pub sum_num: u32,
    /// In arrival order, each channel once.
    pub items: Vec<CatalogItem>,
    /// False when the deadline passed before `sum_num` items arrived.
    pub complete: bool,
}

#[derive(Debug)]
struct Assembly {
    sum_num: u32,
    started: i64,
    seen: std::collections::HashSet<String>,
    items: Vec<CatalogItem>,
}

#[derive(Debug, Default)]
pub struct Collector {
    open: HashMap<(String, u32), Assembly>,
    /// Catalogs completed within the deadline, and when.
    done: HashMap<(String, u32), i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog of {device_id} announces {sum_num} items, more than the limit of {limit}")]
    TooMany {
        device_id: String,
        sum_num: u32,
        limit: u32,
    },
}

impl Collector {
    /// Adds one page; returns the catalog when this page completes it.
    pub fn page(
        &mut self,
        device_id: &str,
        sn: u32,
        sum_num: u32,
        items: Vec<CatalogItem>,
        now: i64,
    ) -> Result<Option<Catalog>, CatalogError> {
        if sum_num > MAX_CATALOG_ITEMS {
            return Err(CatalogError::TooMany {
                device_id: device_id.to_string(),
                sum_num,
                limit: MAX_CATALOG_ITEMS,
            });
        }
        let key = (device_id.to_string(), sn);
        if self.done.contains_key(&key) {
            return Ok(None);
        }
        let a = self.open.entry(key.clone()).or_insert_with(|| Assembly {
            sum_num,
            started: now,
            seen: Default::default(),
            items: Vec::new(),
        });
        for item in items {
            if a.items.len() as u32 >= a.sum_num {
                break;
            }
            if a.seen.insert(item.device_id.clone()) {
                a.items.push(item);
            }
        }
        if a.items.len() as u32 >= a.sum_num {
            let a = self.open.remove(&key).expect("just used");
            if self.done.len() >= MAX_DONE {
                self.done.retain(|_, at| now - *at < CATALOG_DEADLINE_SEC);
                // Still full: forget them all (their late pages would make partial catalogs,
                // nothing worse).
                if self.done.len() >= MAX_DONE {
                    self.done.clear();
                }
            }
            self.done.insert(key.clone(), now);
            return Ok(Some(Catalog {
                device_id: key.0,
                sn,
                sum_num: a.sum_num,
                items: a.items,
                complete: true,
            }));
        }
        Ok(None)
    }

    /// Gives up assemblies older than [`CATALOG_DEADLINE_SEC`]: returns them as partial.
    pub fn expire(&mut self, now: i64) -> Vec<Catalog> {
        self.done.retain(|_, at| now - *at < CATALOG_DEADLINE_SEC);
        let old: Vec<(String, u32)> = self
            .open
            .iter()
            .filter(|(_, a)| now - a.started >= CATALOG_DEADLINE_SEC)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Catalog> = old
            .into_iter()
            .filter_map(|k| {
                let a = self.open.remove(&k)?;
                Some(Catalog {
                    device_id: k.0,
                    sn: k.1,
                    sum_num: a.sum_num,
                    items: a.items,
                    complete: false,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.device_id, a.sn).cmp(&(&b.device_id, b.sn)));
        out
    }

    pub fn pending(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manscdp::ChannelStatus;
    use proptest::prelude::*;

    fn item(n: u32) -> CatalogItem {
        CatalogItem {
            device_id: format!("340200000013100{n:05}"),
            name: None,
            manufacturer: None,
            model: None,
            civil_code: None,
            parent_id: None,
            address: None,
            status: ChannelStatus::On,
            longitude: None,
            latitude: None,
        }
    }

    #[test]
    fn pages_assemble_and_partial_ones_expire() {
        let mut c = Collector::default();
        assert_eq!(c.page("d", 1, 3, vec![item(1), item(2)], 0).unwrap(), None);
        assert_eq!(c.page("d", 1, 3, vec![item(2)], 1).unwrap(), None, "repeat");
        let cat = c.page("d", 1, 3, vec![item(3)], 2).unwrap().unwrap();
        assert!(cat.complete);
        assert_eq!(cat.items.len(), 3);
        assert_eq!(c.pending(), 0);
        c.page("e", 2, 5, vec![item(1)], 10).unwrap();
        assert!(c.expire(10 + CATALOG_DEADLINE_SEC - 1).is_empty());
        let partial = c.expire(10 + CATALOG_DEADLINE_SEC);
        assert_eq!(partial.len(), 1);
        assert!(!partial[0].complete);
        assert!(c.page("f", 1, MAX_CATALOG_ITEMS + 1, vec![], 0).is_err());
        // An empty catalog is complete at once.
        assert!(c.page("g", 1, 0, vec![], 0).unwrap().unwrap().complete);
    }

    #[test]
    fn a_page_retransmitted_after_completion_is_dropped() {
        let mut c = Collector::default();
        c.page("d", 1, 2, vec![item(1)], 0).unwrap();
        assert!(c.page("d", 1, 2, vec![item(2)], 1).unwrap().is_some());
        // The last page again (our 200 was lost): no new assembly, no partial catalog later.
        assert_eq!(c.page("d", 1, 2, vec![item(2)], 3).unwrap(), None);
        assert_eq!(c.pending(), 0);
        assert!(c.expire(3 + CATALOG_DEADLINE_SEC).is_empty());
        // Once forgotten (after the deadline), the same SN is a new catalog again.
        assert_eq!(c.page("d", 1, 2, vec![item(1)], 200).unwrap(), None);
        assert_eq!(c.pending(), 1);
    }

    proptest! {
        /// However the items are split into pages (and repeated), the catalog completes once,
        /// with each item once, in first-arrival order.
        #[test]
        fn any_paging_gives_the_same_catalog(
            n in 1u32..40,
            cuts in proptest::collection::vec(1usize..8, 1..20),
        ) {
            let all: Vec<CatalogItem> = (0..n).map(item).collect();
            let mut c = Collector::default();
            let mut done = None;
            let mut i = 0usize;
            let mut pages = 0;
            for cut in cuts.iter().cycle() {
                pages += 1;
                prop_assert!(pages < 1000);
                let start = i.saturating_sub(1); // overlap one item with the previous page
                let end = (i + cut).min(all.len());
                let r = c.page("d", 9, n, all[start..end].to_vec(), 0).unwrap();
                i = end;
                if let Some(cat) = r {
                    prop_assert!(done.is_none());
                    done = Some(cat);
                    break;
                }
            }
            let cat = done.unwrap();
            prop_assert_eq!(cat.items, all);
            prop_assert_eq!(c.pending(), 0);
        }
    }
}
