//! camwatch-core: the pure logic of camwatch. Types and rules with no network, no database and
//! no terminal: everything here takes data and returns data, so it is tested exhaustively and
//! on virtual time.
//!
//! | module         | job                                                                 |
//! |----------------|---------------------------------------------------------------------|
//! | `access`       | roles, permissions, region scope, password rule, lockout (pure)     |
//! | `error`        | one error type with a kind; kinds map to exit codes / HTTP statuses  |
//! | `clock`        | injected wall time (system, scaled for the demo, manual for tests)  |
//! | `secret`       | credential sealing at rest (AEAD) and redaction                      |
//! | `registry`     | the camera register (一机一档): device codes, records, import/export |
//! | `regions`      | civil codes as names: the register's own, else GB/T 2260           |
//! | `outcome`      | what one probe saw: status, failure kind, timings, typed facts       |
//! | `health`       | per-device state machine: outcomes → debounced status changes        |
//! | `history`      | status spans and exemptions: what happened to each device, when     |
//! | `quality`      | picture diagnostics on a thumbnail: faults, scores, severities       |
//! | `availability` | hours by status, outages, online/intact rates from spans            |
//! | `calendar`     | working days and hours; SLA limits counted and their deadlines       |
//! | `contract`     | contract rules as data (TOML) and the deductions they make          |
//! | `cause`        | why a device is not online, typed; its stable text form                |
//! | `text`         | text forms of closed sets, from one table each                        |
//! | `config`       | `camwatch.toml`: typed settings, unknown keys refused                 |
//! | `limits`       | length limits of every text input (fields, URLs, files)               |
//! | `spreadsheet`  | CSV export's formula neutralising (`'` prefix) and its inverse         |
//! | `workorder`    | fault work orders: lifecycle transitions, what opens one, grouping    |
//! | `nodes`        | several nodes: a device's shard, fair share, one heartbeat's lease plan |
//! | `patrol`       | patrol (巡检): the rotation plan on the working calendar, its figures  |
//! | `signalling`   | a GB/T 28181 device's SIP facts for diagnostics (plain data)          |
//!
//! Reading a register or contract file is the only I/O here, and it is at the edges
//! (`registry::table`, `contract::Contract::load`, `config::Config::load`).

pub mod access;
pub mod availability;
pub mod calendar;
pub mod cause;
pub mod clock;
pub mod config;
pub mod contract;
pub mod error;
pub mod health;
pub mod history;
pub mod limits;
pub mod nodes;
pub mod outcome;
pub mod patrol;
pub mod quality;
pub mod regions;
pub mod registry;
pub mod secret;
pub mod signalling;
pub mod spreadsheet;
pub mod text;
pub mod workorder;
