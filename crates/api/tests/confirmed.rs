//! The device detail says whether a channel is a contract point: a register device is
//! confirmed; a channel a GB/T 28181 catalog brought in is not, until an operator confirms it.

mod common;

use camwatch_core::registry::{Device, DeviceCode};
use camwatch_store::gb28181::{CatalogWrite, ConfirmTarget};
use common::*;

#[tokio::test]
async fn the_device_detail_says_whether_a_catalog_channel_is_confirmed() {
    let e = env().await;
    let op = e.login("op").await;
    let r = e.get(&format!("/devices/{A1}"), &op).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["confirmed"], true);

    // A lower platform's catalog brings in a channel of A1's district.
    let code: DeviceCode = "34010400001310000099".parse().unwrap();
    let mut ch = Device::new(code, "目录 通道");
    ch.civil_code = Some("340104".into());
    e.store
        .write_catalog(&CatalogWrite {
            source: A1.parse().unwrap(),
            at: 1_764_576_000,
            added: vec![ch],
            changed: Vec::new(),
            listed: vec![code],
            gone: Vec::new(),
        })
        .await
        .unwrap();
    let r = e.get(&format!("/devices/{code}"), &op).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["confirmed"], false);

    e.store
        .confirm_channels(&ConfirmTarget::Codes(vec![code]), "admin", 1_764_576_100)
        .await
        .unwrap();
    let r = e.get(&format!("/devices/{code}"), &op).await;
    assert_eq!(r.body["confirmed"], true);
}
