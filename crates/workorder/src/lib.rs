//! camwatch-workorder: fault work orders (工单) for maintenance contractors.
//!
//! | module     | job                                                                      |
//! |------------|--------------------------------------------------------------------------|
//! | `desk`     | every change to an order (engine, CLI, API): one set of rules, audited   |
//! | `engine`   | the monitor's events → orders; deadlines, repair verification, auto-close |
//! | `sla`      | level, deadlines (working calendar, exemptions) and contractor of an order |
//! | `announce` | the outbox rows that announce a change, written with it                   |
//!
//! The lifecycle and the opening rules themselves are pure and live in
//! `camwatch_core::workorder`; this crate only drives them with the store and the monitor.

pub mod announce;
pub mod desk;
pub mod engine;
pub mod sla;

pub use announce::{Announcer, Silent};
pub use desk::{Desk, ManualOrder, SYSTEM};
pub use engine::{Engine, EngineConfig};
pub use sla::Sla;
