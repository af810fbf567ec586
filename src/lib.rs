//! camwatch: a health monitor for large video-surveillance camera fleets.
//!
//! Module map (data flows top to bottom; each layer depends only on those above it):
//!
//! | module         | job                                                                 |
//! |----------------|---------------------------------------------------------------------|
//! | `error`        | one error type with a kind; kinds map to exit codes / HTTP statuses  |
//! | `clock`        | injected wall time (system, scaled for the demo, manual for tests)  |
//! | `secret`       | credential sealing at rest (AEAD) and redaction                      |
//! | `registry`     | the camera register (一机一档): device codes, records, import/export |
//! | `scheduler`    | due-time queue + bounded probe pool: caps, stagger, deadlines         |
//! | `health`       | per-device state machine: outcomes → debounced status changes (pure)   |
//! | `history`      | status spans and exemptions: what happened to each device, when     |
//! | `quality`      | picture diagnostics on a thumbnail: faults, scores, severities (pure)  |
//! | `availability` | hours by status, outages, online/intact rates from spans (pure)       |
//! | `contract`     | contract rules as data (TOML) and the deductions they make (pure)     |
//! | `report`       | monthly report: per device, region, contractor; JSON/CSV/XLSX/HTML  |
//! | `monitor`      | register → scheduler → probes → health → spans; live state            |
//! | `store`        | SQLite / PostgreSQL persistence behind one `Store` trait             |
//! | `config`       | `camwatch.toml`: typed settings, unknown keys refused                 |
//! | `sim`          | the camera fleet simulator: RTSP/HTTP cameras and NVRs with faults   |
//! | `rehearsal`    | simulator + monitor + report on one scaled clock, scored against truth |
//! | `demo`         | the demo: simulator + monitor + live view + report                    |
//! | `cli`          | the `camwatch` command line; thin shells over the modules above      |
//!
//! Protocol clients (RTSP, ONVIF, HTTP snapshot, TCP) live in the `camwatch-probes` crate.

pub mod availability;
pub mod cli;
pub mod clock;
pub mod config;
pub mod contract;
pub mod demo;
pub mod error;
pub mod health;
pub mod history;
pub mod monitor;
pub mod quality;
pub mod registry;
pub mod rehearsal;
pub mod report;
pub mod scheduler;
pub mod secret;
pub mod sim;
pub mod store;
