//! Each camera's approved view while the monitor runs: its baseline pictures and the false
//! alarms an operator dismissed for it.
//!
//! Job: hold them by camera so the prober reads the current ones at every picture sample, and
//! whoever approves a picture or dismisses a fault (the API) can replace a camera's view
//! without restarting the monitor.
//!
//! Invariants: a camera's view is replaced whole (baseline and dismissals together), so a
//! sample never pairs one view's baseline with another's dismissals. A camera with no entry
//! has the empty view (no baseline, nothing dismissed).
//!
//! Must not: read files or judge pictures (`baselines` loads, the prober diagnoses).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use camwatch_core::quality::{Baseline, Dismissal};
use camwatch_core::registry::DeviceCode;

/// One camera's approved view.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The approved baseline pictures (day, night), every sample is compared with.
    pub baseline: Option<Arc<Baseline>>,
    /// Faults an operator dismissed as false alarms for this view.
    pub dismissed: Arc<[Dismissal]>,
}

impl View {
    fn is_empty(&self) -> bool {
        self.baseline.is_none() && self.dismissed.is_empty()
    }
}

/// The views of every camera that has one.
#[derive(Debug, Default)]
pub struct Views {
    by_code: RwLock<HashMap<DeviceCode, View>>,
}

impl Views {
    /// The camera's view now (cheap: two `Arc` clones).
    pub fn get(&self, code: &DeviceCode) -> View {
        self.read().get(code).cloned().unwrap_or_default()
    }

    /// Replaces the camera's view.
    pub fn set(&self, code: DeviceCode, view: View) {
        let mut m = self.by_code.write().expect("views lock");
        if view.is_empty() {
            m.remove(&code);
        } else {
            m.insert(code, view);
        }
    }

    /// Replaces every view at once (the register was re-read).
    pub fn replace_all(&self, views: HashMap<DeviceCode, View>) {
        *self.by_code.write().expect("views lock") = views;
    }

    /// Cameras with a baseline.
    pub fn with_baseline(&self) -> usize {
        self.read()
            .values()
            .filter(|v| v.baseline.is_some())
            .count()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<DeviceCode, View>> {
        self.by_code.read().expect("views lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camwatch_core::quality::FaultKind;

    fn code(n: u64) -> DeviceCode {
        format!("3401000000132{n:07}").parse().unwrap()
    }

    #[test]
    fn a_camera_without_a_view_has_the_empty_one_and_set_replaces_it_whole() {
        let v = Views::default();
        assert!(v.get(&code(1)).is_empty());
        let dismissed: Arc<[Dismissal]> = vec![Dismissal {
            kind: FaultKind::Blur,
            measure: 0.4,
        }]
        .into();
        v.set(
            code(1),
            View {
                baseline: None,
                dismissed,
            },
        );
        assert_eq!(v.get(&code(1)).dismissed.len(), 1);
        assert!(v.get(&code(2)).is_empty());
        v.set(code(1), View::default());
        assert!(v.get(&code(1)).is_empty());
        assert!(v.read().is_empty(), "an empty view is not kept");
    }
}
