//! Bounds on what people and files may give camwatch: one place for every length limit, so the
//! register, history and exemption imports (and later the API) refuse the same things with the
//! same words.
//!
//! | what | limit |
//! |---|---|
//! | device name, address; the name of who approved an exemption | 200 characters |
//! | any other free text: police station, vendor, maintainer, tags, `extra` columns, username, password, a span's cause, an exemption's note | 500 characters |
//! | a URL (each stream URL, ONVIF, snapshot) | 2048 characters |
//! | device code | 20 digits (`registry::DeviceCode`) |
//! | one field of an imported file, whatever its column | 16 KiB |
//! | a whole imported file (CSV or XLSX) | 64 MiB |
//!
//! Characters are Unicode scalar values (`南` is one), so a Chinese name has the same room as a
//! Latin one. The field and file caps are in bytes and come first: a hostile file gets a clear
//! error instead of unbounded memory.

use crate::registry::aliases::Field;

/// Device name, address, approver: what fits on a label or a form line.
pub const NAME_CHARS: usize = 200;
/// Other free text.
pub const TEXT_CHARS: usize = 500;
/// One URL.
pub const URL_CHARS: usize = 2048;
/// Any one field of an imported file, before its column's own limit.
pub const FIELD_BYTES: usize = 16 * 1024;
/// A whole imported file. A 50,000-channel register with 40 columns is about 25 MB.
pub const FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The most characters a register field may hold, for fields that are text (the others are
/// parsed into numbers, codes, addresses and dates, which bounds them). `StreamUrls` is per URL.
pub fn register_field(f: Field) -> Option<usize> {
    match f {
        Field::Name | Field::Address => Some(NAME_CHARS),
        Field::StreamUrls | Field::OnvifUrl | Field::SnapshotUrl => Some(URL_CHARS),
        f if f.is_free_text() => Some(TEXT_CHARS),
        _ => None,
    }
}

/// `extra` columns of the register (kept verbatim under their own header).
pub const EXTRA_CHARS: usize = TEXT_CHARS;
/// A history span's cause.
pub const CAUSE_CHARS: usize = TEXT_CHARS;
/// An exemption's note.
pub const NOTE_CHARS: usize = TEXT_CHARS;
/// Who approved an exemption.
pub const APPROVER_CHARS: usize = NAME_CHARS;

/// `Ok` when `value` has at most `max` characters; else the problem, in the words every import
/// uses.
pub fn check_chars(value: &str, max: usize) -> Result<(), String> {
    // Counting stops early: the field cap bounds `value`, but there is no need to walk it all.
    if value.len() <= max || value.chars().take(max + 1).count() <= max {
        return Ok(());
    }
    Err(format!(
        "too long: {} characters, at most {max}",
        value.chars().count()
    ))
}

/// `Ok` when one imported field is within [`FIELD_BYTES`].
pub fn check_field_bytes(value: &str) -> Result<(), String> {
    if value.len() <= FIELD_BYTES {
        Ok(())
    } else {
        Err(format!(
            "field too long: {} bytes, at most {FIELD_BYTES} in any field",
            value.len()
        ))
    }
}

/// `Ok` when a file of `len` bytes may be imported.
pub fn check_file_bytes(len: u64) -> Result<(), String> {
    check_file_bytes_against(len, FILE_BYTES)
}

/// [`check_file_bytes`] against another cap (tests).
pub(crate) fn check_file_bytes_against(len: u64, cap: u64) -> Result<(), String> {
    if len <= cap {
        Ok(())
    } else {
        Err(format!(
            "file too large: {len} bytes, more than the {cap} an import file may have; split it"
        ))
    }
}

/// `value` cut to `max` characters with `…` when longer: for echoing a bad value in a message.
pub fn shorten(value: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(max) {
        None => value.into(),
        Some((at, _)) => format!("{}…", &value[..at]).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_not_bytes() {
        assert!(check_chars(&"南".repeat(200), NAME_CHARS).is_ok());
        assert_eq!(
            check_chars(&"南".repeat(201), NAME_CHARS).unwrap_err(),
            "too long: 201 characters, at most 200"
        );
        assert!(check_chars("", 0).is_ok());
        assert_eq!(shorten("南门广场", 2), "南门…");
        assert_eq!(shorten("南门", 2), "南门");
    }

    #[test]
    fn every_free_text_field_is_bounded() {
        for (f, _, _) in crate::registry::aliases::ALIASES {
            if f.is_free_text() {
                assert!(register_field(*f).is_some(), "{f:?}");
            }
        }
        assert_eq!(register_field(Field::Longitude), None);
    }
}
