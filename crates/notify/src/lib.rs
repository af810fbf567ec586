//! Notifications about work orders, delivered through the durable outbox.
//!
//! Map of the crate:
//! - [`config`]: `[notify]` — the targets (webhook, DingTalk robot, WeCom robot, HTTP
//!   template for SMS gateways), their secrets and filters, checked into [`config::Target`]s.
//! - [`message`]: [`message::Notification`], the target-independent payload the work-order
//!   engine writes, and [`message::rows_for`], which fans it out into outbox rows.
//! - [`render`]: pure functions from a notification to each target's HTTP request (signing
//!   included) and from an answer to success or failure; [`render::verify_webhook`] for
//!   receivers.
//! - [`announce`]: which work-order events are announced, and the notification of a stored
//!   order ([`announce::Announcements`], for the engine's announcer).
//! - [`digest`]: the daily digest per contractor ([`digest::DailyDigest`]), once a day across
//!   restarts.
//! - [`deliver`]: the [`deliver::Outbox`] worker that sends due rows, in order per key, with
//!   backoff and never giving up.
//!
//! Layering: uses `core` (clock, errors, secrets, work-order events) and `store` (the outbox
//! table, stored orders) only. The engine writes rows in its own transaction; this crate
//! reads and delivers them.
//! See docs/work-orders.md, "Notifications".

pub mod announce;
pub mod config;
pub mod deliver;
pub mod digest;
pub mod message;
pub mod render;

pub use announce::Announcements;
pub use config::{NotifyConfig, Target, TargetKind};
pub use deliver::{DeliveryOptions, Outbox, OutboxStats, OutboxWaker, run};
pub use digest::{DailyDigest, DigestTime};
pub use message::{Notification, NotificationKind, rows_for};
