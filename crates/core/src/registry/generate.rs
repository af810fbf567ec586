//! A realistic generated register, for benchmarks, tests and trying camwatch out: IP cameras plus
//! NVRs with 16 channels each, spread over four districts of Hefei (340102 瑶海区, 340103 庐阳区,
//! 340104 蜀山区, 340111 包河区), three contractors, fees of 50–120 yuan a month.
//! Deterministic for a seed. Addresses are on 127.16.0.0/12 (loopback) so a generated register
//! can never send a probe off this machine.

use std::net::{IpAddr, Ipv4Addr};

use super::{Device, DeviceKind};
use crate::secret::Password;

const DISTRICTS: [(&str, &str); 4] = [
    ("340102", "瑶海"),
    ("340103", "庐阳"),
    ("340104", "蜀山"),
    ("340111", "包河"),
];
const CONTRACTORS: [&str; 3] = [
    "合肥安视运维有限公司",
    "皖通信息技术有限公司",
    "城安智能科技有限公司",
];
const VENDORS: [(&str, &str); 3] = [
    ("海康威视", "DS-2CD3T46WDV3"),
    ("大华", "DH-IPC-HFW2433M"),
    ("宇视", "IPC2124LB"),
];
const PLACES: [&str; 6] = ["路口", "小区出入口", "学校门口", "商业街", "公园", "地铁站"];

/// splitmix64: tiny, deterministic, good enough to vary test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The register column naming a camera's codec (REGISTER-COLUMNS.md keeps it in `extra`).
pub const CODEC_COLUMN: &str = "摄像机编码格式";

/// One channel in four streams H.265, as in fleets where newer cameras do.
fn codec(channel: u64) -> &'static str {
    if channel % 4 == 3 { "H.265" } else { "H.264" }
}

/// What a fleet is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// This many channels: IP cameras and 16-channel NVRs, about one host in five an NVR.
    Mix { channels: u64 },
    /// Exactly these hosts, the NVRs spread evenly among the cameras.
    Exact {
        cameras: u64,
        nvrs: u64,
        channels_per_nvr: u64,
    },
}

impl Shape {
    /// The most channels one NVR may have (`/Streaming/Channels/NNN01` paths).
    pub const MAX_CHANNELS_PER_NVR: u64 = 256;

    /// Channels (cameras + NVR channels): the points a report counts.
    pub fn channels(&self) -> u64 {
        match *self {
            Shape::Mix { channels } => channels,
            Shape::Exact {
                cameras,
                nvrs,
                channels_per_nvr,
            } => cameras + nvrs * channels_per_nvr,
        }
    }

    /// Refuses an empty fleet, and NVRs without channels or with more than the maximum.
    pub fn check(&self) -> Result<(), String> {
        let hosts = match *self {
            Shape::Mix { channels } => channels,
            Shape::Exact { cameras, nvrs, .. } => cameras + nvrs,
        };
        if hosts == 0 {
            return Err("the fleet is empty: give at least one camera, NVR or channel".into());
        }
        if let Shape::Exact {
            nvrs,
            channels_per_nvr,
            ..
        } = *self
            && nvrs > 0
            && !(1..=Self::MAX_CHANNELS_PER_NVR).contains(&channels_per_nvr)
        {
            return Err(format!(
                "channels per NVR must be 1 to {}, not {channels_per_nvr}",
                Self::MAX_CHANNELS_PER_NVR
            ));
        }
        Ok(())
    }
}

/// `count` channels (cameras + NVR channels) plus their NVRs.
pub fn generate(count: u64, seed: u64) -> Vec<Device> {
    generate_shape(Shape::Mix { channels: count }, seed)
}

/// A fleet of `shape`, deterministic for `seed`.
pub fn generate_shape(shape: Shape, seed: u64) -> Vec<Device> {
    let count = shape.channels();
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(count as usize + count as usize / 64);
    let mut serial = [0u64; 4];
    let mut host = 0u32;
    let mut made = 0u64;
    let more = |made: u64, hosts: u32| match shape {
        Shape::Mix { channels } => made < channels,
        Shape::Exact { cameras, nvrs, .. } => u64::from(hosts) < cameras + nvrs,
    };
    while more(made, host) {
        let di = rng.below(4) as usize;
        let (civil, dname) = DISTRICTS[di];
        let contractor = CONTRACTORS[di % 3];
        host += 1;
        let ip = IpAddr::V4(Ipv4Addr::from(0x7F10_0000u32 + host));
        let mut next_code = |ty: &str| {
            serial[di] += 1;
            format!("{civil}0000{ty}0{:06}", serial[di])
                .parse()
                .expect("valid code")
        };
        let nvr_channels = match shape {
            // One host in five is an NVR with 16 channels.
            Shape::Mix { channels } => {
                if rng.below(5) == 0 {
                    16.min(channels - made)
                } else {
                    0
                }
            }
            Shape::Exact {
                cameras,
                nvrs,
                channels_per_nvr,
            } => {
                // Host h (0-based) is an NVR when it crosses the next multiple of the NVR share.
                let (h, total) = (u64::from(host) - 1, cameras + nvrs);
                if (h + 1) * nvrs / total > h * nvrs / total {
                    channels_per_nvr
                } else {
                    0
                }
            }
        };
        let (vendor, model) = VENDORS[rng.below(3) as usize];
        let base = |code, name: String, rng: &mut Rng| {
            let mut d = Device::new(code, name);
            d.civil_code = Some(civil.to_string());
            d.police_station = Some(format!("{dname}分局第{}派出所", rng.below(6) + 1));
            d.maintainer = Some(contractor.to_string());
            d.maintainer_contact = Some("张工".into());
            d.maintainer_phone = Some(format!("1385510{:04}", rng.below(10_000)));
            d.vendor = Some(vendor.to_string());
            d.model = Some(model.to_string());
            d.longitude = Some(117.1 + rng.below(30_000) as f64 / 100_000.0);
            d.latitude = Some(31.75 + rng.below(20_000) as f64 / 100_000.0);
            d.contract_from = Some(jiff::civil::date(2025, 1 + rng.below(12) as i8, 1));
            d.build_type = Some(["一期新建", "二期新建", "整合接入"][rng.below(3) as usize].into());
            d
        };
        if nvr_channels > 0 {
            let nvr_code = next_code("118");
            let mut nvr = base(nvr_code, format!("{dname}NVR-{host}"), &mut rng);
            nvr.ip = Some(ip);
            nvr.rtsp_port = Some(554);
            nvr.http_port = Some(80);
            nvr.username = Some("admin".into());
            nvr.password = Some(Password::new(format!("Nvr#{:06}", rng.below(1_000_000))));
            out.push(nvr);
            for ch in 1..=nvr_channels {
                let code = next_code("132");
                let place = PLACES[rng.below(6) as usize];
                let mut d = base(code, format!("{dname}{place}{ch}号"), &mut rng);
                d.kind = DeviceKind::Channel;
                d.parent = Some(nvr_code);
                d.stream_urls = vec![format!("rtsp://{ip}:554/Streaming/Channels/{ch}01")];
                d.monthly_fee_fen = Some(5_000 + rng.below(71) as i64 * 100);
                d.monthly_link_fee_fen = Some(3_000);
                d.address = Some(format!("合肥市{dname}区{place}"));
                d.extra.insert(CODEC_COLUMN.into(), codec(made + ch).into());
                out.push(d);
            }
            made += nvr_channels;
        } else {
            let code = next_code("132");
            let place = PLACES[rng.below(6) as usize];
            let mut d = base(code, format!("{dname}{place}{host}"), &mut rng);
            d.ip = Some(ip);
            d.rtsp_port = Some(554);
            d.http_port = Some(80);
            d.stream_urls = vec![format!("rtsp://{ip}:554/Streaming/Channels/101")];
            d.onvif_url = Some(format!("http://{ip}/onvif/device_service"));
            d.snapshot_url = Some(format!("http://{ip}/ISAPI/Streaming/channels/101/picture"));
            d.username = Some("admin".into());
            d.password = Some(Password::new(format!("Cam#{:06}", rng.below(1_000_000))));
            d.monthly_fee_fen = Some(5_000 + rng.below(71) as i64 * 100);
            d.monthly_link_fee_fen = Some(3_000);
            d.address = Some(format!("合肥市{dname}区{place}"));
            d.tags = vec!["视频监控".into()];
            d.extra.insert("补光属性".into(), "红外补光".into());
            d.extra.insert(CODEC_COLUMN.into(), codec(made).into());
            out.push(d);
            made += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_unique_and_loopback() {
        let a = generate(500, 7);
        assert_eq!(a, generate(500, 7));
        let channels = a.iter().filter(|d| !d.kind.is_parent()).count();
        assert_eq!(channels, 500);
        let codes: std::collections::HashSet<_> = a.iter().map(|d| d.code).collect();
        assert_eq!(codes.len(), a.len());
        assert!(a.iter().filter_map(|d| d.ip).all(|ip| ip.is_loopback()));
        assert!(a.iter().any(|d| d.kind == DeviceKind::Nvr));
        let h265 = a
            .iter()
            .filter(|d| d.extra.get(CODEC_COLUMN).map(String::as_str) == Some("H.265"))
            .count();
        assert_eq!(h265, 125, "one channel in four");
    }

    #[test]
    fn an_exact_shape_has_exactly_its_hosts() {
        for (cameras, nvrs, k) in [(10, 3, 8), (0, 2, 64), (7, 0, 0), (1, 1, 1), (100, 9, 32)] {
            let shape = Shape::Exact {
                cameras,
                nvrs,
                channels_per_nvr: k,
            };
            shape.check().unwrap();
            let a = generate_shape(shape, 3);
            assert_eq!(a, generate_shape(shape, 3));
            let count = |kind: DeviceKind| a.iter().filter(|d| d.kind == kind).count() as u64;
            assert_eq!(count(DeviceKind::Nvr), nvrs);
            assert_eq!(count(DeviceKind::Channel), nvrs * k);
            assert_eq!(a.len() as u64 - nvrs - nvrs * k, cameras);
            assert_eq!(shape.channels(), cameras + nvrs * k);
            for n in a.iter().filter(|d| d.kind == DeviceKind::Nvr) {
                let kids = a.iter().filter(|d| d.parent == Some(n.code)).count() as u64;
                assert_eq!(kids, k);
            }
        }
        let bad = Shape::Exact {
            cameras: 1,
            nvrs: 1,
            channels_per_nvr: 0,
        };
        assert!(bad.check().is_err());
    }
}
