//! Arbitrary datagrams into the platform's decisions, with catalog subscriptions on: the
//! first byte picks the sending address (so a device can register in one message and NOTIFY in
//! the next), the rest is one SIP message. Errors and refusals are fine; a panic, a hang, or
//! state growing without bound is a bug.
#![no_main]

use std::sync::Mutex;

use camwatch_gb28181::digest::Nonces;
use camwatch_gb28181::platform::{Peer, Platform, PlatformConfig};
use libfuzzer_sys::fuzz_target;

static PLATFORM: Mutex<Option<(Platform, i64)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&who, msg)) = data.split_first() else {
        return;
    };
    let mut guard = PLATFORM.lock().unwrap_or_else(|e| e.into_inner());
    let (p, now) = guard.get_or_insert_with(|| {
        let cfg = PlatformConfig {
            catalog_subscription_sec: 600,
            unknown: camwatch_gb28181::platform::UnknownPolicy::Accept,
            shared_password: Some(camwatch_core::secret::Password::new("12345678")),
            // DeviceStatus polls too, so their scheduling meets arbitrary answers.
            status_poll: camwatch_gb28181::status_poll::PollConfig {
                interval_sec: 60,
                at_once: 4,
            },
            ..PlatformConfig::default()
        };
        (Platform::new(cfg, Nonces::new([7; 16]), 1), 1_800_000_000)
    });
    *now += 1;
    let from = Peer::Udp((std::net::IpAddr::from([127, 0, 0, who % 8]), 5060).into());
    let _ = p.on_message(msg, from, *now);
    let _ = p.tick(*now);
    let _ = p.take_events();
});
