//! The API's own counters (for `/metrics`, to come): event streams open now.
//!
//! Must not: keep a global registry.

use prometheus_client::metrics::gauge::Gauge;

/// The API's own counters.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Event streams open now.
    pub(crate) sse_clients: Gauge,
}

impl ApiMetrics {
    /// Event streams open now.
    pub fn sse_clients(&self) -> i64 {
        self.sse_clients.get()
    }
}
