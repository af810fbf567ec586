//! camwatch-probes: protocol clients that look at one camera channel once and say what they saw.
//!
//! One module per protocol, all with the same shape: `async fn probe(target, options) -> ProbeOutcome`.
//! Probes make one attempt; the caller (camwatch's scheduler) owns deadlines, retries,
//! confirmation and concurrency. No database, no web, no global state.

pub mod creds;
pub mod onvif;
pub mod rtsp;
pub mod snapshot;
pub mod tcp;

/// The outcome types are camwatch-core's, so health and the probes share them.
pub use camwatch_core::outcome;

pub use creds::Credentials;
pub use outcome::{FailureKind, Frame, ProbeKind, ProbeOutcome, ProbeStatus, StepTiming};

/// Re-exported so callers share exactly the types the probes take.
pub use reqwest::Client as HttpClient;
pub use retina::client::SessionGroup;
pub use url::Url;
