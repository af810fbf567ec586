//! The register as the device list reads it: the listed fields of every device, in memory,
//! sorted by code, so a page is one pass over memory rather than one read of the whole
//! register (100,000 rows take about a second to read and decrypt on SQLite; a page must take
//! milliseconds).
//!
//! Freshness: the API's own register writes drop the copy at once (the next read rebuilds
//! it); a change made elsewhere (a CLI import, another tool on the database) is seen within
//! [`RECHECK`], by the store's register revision, checked at most that often because it is a
//! scan of the device table itself. One rebuild at a time: concurrent readers wait for it
//! rather than each reading the register.
//!
//! Must not: hold credentials (only the listed fields are copied), or be used for anything a
//! write decides: writes read the store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use camwatch_core::regions::RegionNames;
use camwatch_core::registry::{Device, DeviceCode, DeviceKind};
use camwatch_store::{DeviceFilter, RegisterRevision, Store};
use tokio::sync::Mutex;

use crate::error::ApiError;

/// How often a reader checks the store's register revision.
pub const RECHECK: Duration = Duration::from_secs(5);

/// The listed fields of one device.
#[derive(Debug, Clone)]
pub struct Listed {
    pub code: DeviceCode,
    pub name: String,
    pub kind: DeviceKind,
    /// The civil code the device counts under (see `Device::region`).
    pub region: String,
    pub maintainer: Option<String>,
    pub address: Option<String>,
    /// Coordinates as the register has them (its system: `[console] register_crs`).
    pub longitude: Option<f64>,
    pub latitude: Option<f64>,
    /// `name` and `address` lower-cased, for the text search.
    pub name_lc: String,
    pub address_lc: String,
}

impl Listed {
    fn of(d: &Device) -> Self {
        Self {
            code: d.code,
            name: d.name.clone(),
            kind: d.kind,
            region: d.region().to_string(),
            maintainer: d.maintainer.clone(),
            address: d.address.clone(),
            longitude: d.longitude,
            latitude: d.latitude,
            name_lc: d.name.to_lowercase(),
            address_lc: d.address.as_deref().unwrap_or("").to_lowercase(),
        }
    }
}

/// The row of `code` in `rows` (sorted by code, as [`RegisterIndex::rows`] hands them out).
pub fn find<'a>(rows: &'a [Listed], code: &DeviceCode) -> Option<&'a Listed> {
    rows.binary_search_by(|r| r.code.cmp(code))
        .ok()
        .map(|i| &rows[i])
}

struct Copy {
    revision: RegisterRevision,
    checked: Instant,
    rows: Arc<Vec<Listed>>,
}

/// The in-memory register of the device list. Cheap to share.
#[derive(Default)]
pub struct RegisterIndex {
    copy: Mutex<Option<Copy>>,
    /// Region names as of the last read of the register (the register's own names, else
    /// GB/T 2260; GB/T 2260 alone before the first read). A sync lock: held for a clone.
    names: std::sync::Mutex<Arc<RegionNames>>,
}

impl RegisterIndex {
    /// Every device's listed fields, sorted by code: the held copy when it is fresh (see the
    /// module doc), else a new one read from `store`.
    pub async fn rows(&self, store: &dyn Store) -> Result<Arc<Vec<Listed>>, ApiError> {
        let mut copy = self.copy.lock().await;
        if let Some(c) = copy.as_mut() {
            if c.checked.elapsed() < RECHECK {
                return Ok(c.rows.clone());
            }
            let revision = store.register_revision().await?;
            c.checked = Instant::now();
            if revision == c.revision {
                return Ok(c.rows.clone());
            }
        }
        // The revision first: a change landing during the read is then seen as a change later.
        let revision = store.register_revision().await?;
        let devices = store.list_devices(&DeviceFilter::default()).await?;
        let rows: Arc<Vec<Listed>> = Arc::new(devices.iter().map(Listed::of).collect());
        *self.names.lock().expect("region names") = Arc::new(RegionNames::from_register(&devices));
        *copy = Some(Copy {
            revision,
            checked: Instant::now(),
            rows: rows.clone(),
        });
        Ok(rows)
    }

    /// Region names as of the last read of the register (see the field).
    pub fn names(&self) -> Arc<RegionNames> {
        self.names.lock().expect("region names").clone()
    }

    /// Drops the held copy: the register was just changed through the API.
    pub async fn invalidate(&self) {
        *self.copy.lock().await = None;
    }
}
