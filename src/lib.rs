//! camwatch: a health monitor for large video-surveillance camera fleets. This crate is the
//! application: the command line, the demo and the rehearsal, thin shells over the library
//! crates, whose dependency direction the compiler enforces:
//!
//! ```text
//! camwatch-core     pure logic: register, outcomes, health, history, quality, availability,
//!                   contract, config, clock, errors, secrets (no network, database or terminal)
//! camwatch-probes   protocol clients (TCP, RTSP, ONVIF, HTTP snapshot)        → core
//! camwatch-store    SQLite / PostgreSQL behind one Store trait                 → core
//! camwatch-report   monthly reports: build, JSON/CSV/XLSX/HTML                 → core, store
//! camwatch-monitor  scheduler, prober, events, live state, span writer         → core, store, probes
//! camwatch-synth    synthetic pictures and encoders (no camwatch dependency)
//! camwatch-sim      the fleet simulator: RTSP/HTTP/ONVIF cameras and NVRs      → core, synth
//! camwatch (this)   cli, demo (simulator + monitor + live view), rehearsal     → all of the above
//! ```
//!
//! See `docs/architecture.md` for the data flow and the decisions behind it.

pub mod cli;
pub mod demo;
pub mod rehearsal;
