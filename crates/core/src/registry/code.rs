//! `DeviceCode`: the 20-digit GB/T 28181 device/channel identifier.
//!
//! Layout (GB/T 28181-2016 Appendix D): `CCCCCCCC II TTT N SSSSSS`
//! - centre code (8): province (2) + city (2) + district (2) + grass-roots unit (2)
//! - industry (2), type (3: 111 DVR, 118 NVR, 131 camera, 132 network camera, 200 platform, …)
//! - network flag (1: 0–4 public-security video network, 5 public-security information network, 6–9 other)
//! - serial (6)
//!
//! The code is stored as 20 ASCII digits in a `Copy` array so millions of spans can carry it
//! without allocating.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceCode([u8; 20]);

impl DeviceCode {
    /// The digits as two big-endian integers: comparing these is comparing the codes
    /// (byte order equals integer order), without a `memcmp` call per comparison — sorting
    /// millions of spans by device spends most of its time here. `#[inline]` on these: the
    /// sort runs in other crates (store, report), which cannot inline them otherwise.
    #[inline]
    fn key(&self) -> (u128, u32) {
        let (hi, lo) = self.0.split_at(16);
        (
            u128::from_be_bytes(hi.try_into().expect("16 bytes")),
            u32::from_be_bytes(lo.try_into().expect("4 bytes")),
        )
    }
}

impl Ord for DeviceCode {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for DeviceCode {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Eight ASCII digits as their number, three multiplications for the eight (a sort of a
/// month's spans computes 6 M ordinals; digit by digit they were a fifth of it). Loaded
/// little-endian, the first digit is the lowest byte: each step joins neighbouring lanes,
/// the first of each pair the more significant, into lanes twice as wide (1, 2, 4 digits).
#[inline]
fn eight_digits(b: [u8; 8]) -> u64 {
    let v = u64::from_le_bytes(b).wrapping_sub(0x3030_3030_3030_3030);
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF
}

/// Why a string is not a valid device code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("device code must be 20 digits, got {0} characters")]
    Length(usize),
    #[error("device code must be digits only, found {0:?} at position {1}")]
    NotDigit(char, usize),
    #[error("device code province part {0:?} is not a valid province code (11–82)")]
    Province(String),
}

impl DeviceCode {
    /// The 20 digits as a number (below 10^20 < 2^67): ordered as the codes are. A sort key
    /// of integers: sorting millions of spans by device compares these.
    #[inline]
    pub fn ordinal(&self) -> u128 {
        let d = &self.0;
        let eight = |at: usize| eight_digits(d[at..at + 8].try_into().expect("8 digits"));
        let last = d[16..]
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        u128::from(eight(0)) * 1_000_000_000_000 + u128::from(eight(8) * 10_000 + last)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).expect("ascii digits")
    }
    /// 8-digit centre code (province, city, district, grass-roots unit).
    pub fn centre(&self) -> &str {
        &self.as_str()[0..8]
    }
    pub fn province(&self) -> &str {
        &self.as_str()[0..2]
    }
    /// 6-digit administrative division (行政区划) prefix of the centre code.
    pub fn civil_code(&self) -> &str {
        &self.as_str()[0..6]
    }
    pub fn industry(&self) -> &str {
        &self.as_str()[8..10]
    }
    pub fn type_code(&self) -> &str {
        &self.as_str()[10..13]
    }
    pub fn network_flag(&self) -> u8 {
        self.0[13] - b'0'
    }
    pub fn serial(&self) -> &str {
        &self.as_str()[14..20]
    }
    /// What the type digits say the device is.
    pub fn type_kind(&self) -> CodeType {
        CodeType::from_digits(self.type_code())
    }
}

/// The device type encoded in digits 11–13.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeType {
    Dvr,
    VideoServer,
    Encoder,
    Decoder,
    VideoSwitch,
    AudioSwitch,
    AlarmController,
    Nvr,
    Hvr,
    Camera,
    NetworkCamera,
    Display,
    AlarmInput,
    AlarmOutput,
    AudioInput,
    AudioOutput,
    MobileTransmitter,
    OtherPeripheral,
    CentreServer,
    Platform,
    Other(u16),
}

impl CodeType {
    fn from_digits(d: &str) -> Self {
        let n: u16 = d.parse().unwrap_or(0);
        match n {
            111 => Self::Dvr,
            112 => Self::VideoServer,
            113 => Self::Encoder,
            114 => Self::Decoder,
            115 => Self::VideoSwitch,
            116 => Self::AudioSwitch,
            117 => Self::AlarmController,
            118 => Self::Nvr,
            130 => Self::Hvr,
            131 => Self::Camera,
            132 => Self::NetworkCamera,
            133 => Self::Display,
            134 => Self::AlarmInput,
            135 => Self::AlarmOutput,
            136 => Self::AudioInput,
            137 => Self::AudioOutput,
            138 => Self::MobileTransmitter,
            139 => Self::OtherPeripheral,
            200 => Self::CentreServer,
            // 200–299 are platform-side devices (central signalling servers, media servers, …).
            201..=299 => Self::Platform,
            other => Self::Other(other),
        }
    }
    /// Whether the type is a video source a channel record describes (camera, encoder channel).
    pub fn is_channel(self) -> bool {
        matches!(self, Self::Camera | Self::NetworkCamera | Self::Encoder)
    }
}

impl DeviceCode {
    /// From exactly 20 ASCII digits with a valid province (codes as stored): no trimming, no
    /// allocation; `None` for anything else (`parse` then says what is wrong).
    pub fn from_digits(b: &[u8]) -> Option<Self> {
        let out: [u8; 20] = b.try_into().ok()?;
        if !out.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let province = (out[0] - b'0') * 10 + (out[1] - b'0');
        (11..=82).contains(&province).then_some(Self(out))
    }
}

impl FromStr for DeviceCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        if let Some(c) = Self::from_digits(s.as_bytes()) {
            return Ok(c);
        }
        let s = s.trim();
        let n = s.chars().count();
        if n != 20 {
            return Err(CodeError::Length(n));
        }
        let mut out = [0u8; 20];
        for (i, c) in s.chars().enumerate() {
            if !c.is_ascii_digit() {
                return Err(CodeError::NotDigit(c, i + 1));
            }
            out[i] = c as u8;
        }
        let province: u8 = s[0..2].parse().expect("digits");
        // Chinese province-level codes run from 11 (Beijing) to 82 (Macao).
        if !(11..=82).contains(&province) {
            return Err(CodeError::Province(s[0..2].to_string()));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceCode({})", self.as_str())
    }
}

impl Serialize for DeviceCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DeviceCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_parts() {
        let c: DeviceCode = "34020000001320000001".parse().unwrap();
        assert_eq!(c.centre(), "34020000");
        assert_eq!(c.province(), "34");
        assert_eq!(c.civil_code(), "340200");
        assert_eq!(c.industry(), "00");
        assert_eq!(c.type_code(), "132");
        assert_eq!(c.type_kind(), CodeType::NetworkCamera);
        assert_eq!(c.network_flag(), 0);
        assert_eq!(c.serial(), "000001");
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(
            "3402000000132000001".parse::<DeviceCode>(),
            Err(CodeError::Length(19))
        );
        assert_eq!(
            "3402000000132000000x".parse::<DeviceCode>(),
            Err(CodeError::NotDigit('x', 20))
        );
        assert_eq!(
            "99020000001320000001".parse::<DeviceCode>(),
            Err(CodeError::Province("99".into()))
        );
    }

    proptest::proptest! {
        #[test]
        fn roundtrips(s in "(1[1-9]|[2-7][0-9]|8[0-2])[0-9]{18}") {
            let c: DeviceCode = s.parse().unwrap();
            proptest::prop_assert_eq!(c.to_string(), s);
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<DeviceCode>();
        }
    }
}

#[cfg(test)]
mod order_tests {
    use super::{DeviceCode, eight_digits};
    use proptest::prelude::*;

    #[test]
    fn eight_digits_at_their_extremes() {
        for s in [
            "00000000", "99999999", "12345678", "90000009", "00000001", "10000000",
        ] {
            let b: [u8; 8] = s.as_bytes().try_into().unwrap();
            assert_eq!(eight_digits(b), s.parse::<u64>().unwrap(), "{s}");
        }
        for s in ["82999999999999999999", "11000000000000000000"] {
            let c: DeviceCode = s.parse().unwrap();
            assert_eq!(c.ordinal(), s.parse::<u128>().unwrap(), "{s}");
        }
    }

    proptest! {
        #[test]
        fn order_is_the_order_of_the_digits(a in "[1-7][1-9][0-9]{18}", b in "[1-7][1-9][0-9]{18}") {
            let (x, y): (DeviceCode, DeviceCode) = (a.parse().unwrap(), b.parse().unwrap());
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x.ordinal().cmp(&y.ordinal()), a.cmp(&b));
            prop_assert_eq!(x.ordinal(), a.parse::<u128>().unwrap());
        }
    }
}
