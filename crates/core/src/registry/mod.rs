//! The camera register ("一机一档"): device codes, device records, and the import/export of
//! register files (CSV, XLSX) in the shapes Chinese platforms and contractors produce.
//!
//! Pure data and parsing only; persistence is `store`'s job.

pub mod aliases;
pub mod code;
pub mod confirmation;
pub mod device;
pub mod export;
pub mod generate;
pub mod import;
pub mod table;
pub mod values;

pub use code::{CodeError, CodeType, DeviceCode};
pub use confirmation::Confirmation;
pub use device::{Device, DeviceKind, check_url};
