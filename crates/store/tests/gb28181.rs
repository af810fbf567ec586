//! GB/T 28181 catalog sync and unknown devices in the store, on SQLite always and on PostgreSQL
//! when `CAMWATCH_TEST_PG_URL` names a server: a catalog adds channels as unconfirmed (audited
//! by `gb28181`), records changes, flags channels gone from a complete catalog without deleting
//! them and clears the flag when they come back; an operator confirms them; unknown devices are
//! stored, bounded. (That reports leave unconfirmed channels out is tested with the report, in
//! the workspace's `tests/gb28181_truth.rs`.)

use std::collections::HashSet;
use std::sync::Arc;

use camwatch_core::error::ErrorKind;
use camwatch_core::registry::{Confirmation, Device, DeviceCode, DeviceKind};
use camwatch_core::secret::SecretKey;
use camwatch_store::gb28181::{
    CatalogCounts, CatalogWrite, ChannelChange, ChannelQuery, ConfirmTarget, FieldChange,
    MAX_UNKNOWN_STORED, UnknownAttempt,
};
use camwatch_store::{AuditQuery, Store};

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (
        camwatch_store::connect(&url, SecretKey::generate())
            .await
            .unwrap(),
        dir,
    )
}

/// A fresh database on the test server, or `None` when none is configured.
async fn postgres() -> Option<Arc<dyn Store>> {
    let base = std::env::var("CAMWATCH_TEST_PG_URL").ok()?;
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("camwatch_gb_{}_{nanos}", std::process::id());
    // The name is made of our own digits, not user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    };
    Some(
        camwatch_store::connect(&url, SecretKey::generate())
            .await
            .unwrap(),
    )
}

macro_rules! on_all_backends {
    ($name:ident, $body:expr) => {
        #[tokio::test]
        async fn $name() {
            let f = $body;
            let (s, _dir) = sqlite().await;
            f(s).await;
            if let Some(s) = postgres().await {
                f(s).await;
            } else {
                eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL half of this test skipped");
            }
        }
    };
}

const AT: i64 = 1_793_000_000; // 2026-10-27

fn nvr() -> DeviceCode {
    "34020000001110000001".parse().unwrap()
}

fn ch(n: u32) -> DeviceCode {
    format!("340200000013100{n:05}").parse().unwrap()
}

fn channel(n: u32, name: &str) -> Device {
    let mut d = Device::new(ch(n), name);
    d.kind = DeviceKind::Channel;
    d.parent = Some(nvr());
    d
}

async fn audit(s: &dyn Store, action: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = s
        .audit_page(&AuditQuery {
            action: Some(action.into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(_, e)| (e.actor, e.action, e.target))
        .collect();
    v.sort();
    v
}

on_all_backends!(
    catalog_sync_adds_changes_flags_and_never_deletes,
    |s: Arc<dyn Store>| async move {
        // The NVR and channel 1 were imported by an operator; channel 3 too.
        let mut imported = Device::new(nvr(), "NVR");
        imported.kind = DeviceKind::Nvr;
        s.upsert_devices(&[imported, channel(1, "东门"), channel(3, "北门")])
            .await
            .unwrap();

        // First catalog: channels 1 and 2 (2 is new), 3 missing from a complete catalog.
        let n = s
            .write_catalog(&CatalogWrite {
                source: nvr(),
                at: AT,
                added: vec![channel(2, "西门")],
                changed: vec![],
                listed: vec![ch(1), ch(2)],
                gone: vec![ch(3)],
            })
            .await
            .unwrap();
        assert_eq!(
            n,
            CatalogCounts {
                added: 1,
                changed: 0,
                removed: 1,
                relisted: 0
            }
        );
        assert_eq!(s.unconfirmed_codes().await.unwrap(), HashSet::from([ch(2)]));
        let added = s.get_device(&ch(2)).await.unwrap().unwrap();
        assert_eq!((added.name.as_str(), added.parent), ("西门", Some(nvr())));
        // Flagged, never deleted.
        assert!(s.get_device(&ch(3)).await.unwrap().is_some());
        let removed = s
            .catalog_channels(&ChannelQuery {
                removed_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!((removed[0].code, removed[0].removed_at), (ch(3), Some(AT)));
        assert_eq!(removed[0].state, Confirmation::Confirmed);
        let all = s.catalog_channels(&ChannelQuery::default()).await.unwrap();
        let states: Vec<_> = all.iter().map(|c| (c.code, c.state)).collect();
        assert_eq!(
            states,
            vec![
                (ch(1), Confirmation::Confirmed),
                (ch(2), Confirmation::Unconfirmed),
                (ch(3), Confirmation::Confirmed)
            ]
        );

        // Second catalog: channel 1 renamed, channel 3 back, 2 missing again is flagged once.
        let mut renamed = channel(1, "东门 新");
        renamed.civil_code = None;
        let n = s
            .write_catalog(&CatalogWrite {
                source: nvr(),
                at: AT + 60,
                added: vec![],
                changed: vec![ChannelChange {
                    after: renamed,
                    fields: vec![FieldChange {
                        field: "name",
                        before: Some("东门".into()),
                        after: Some("东门 新".into()),
                    }],
                }],
                listed: vec![ch(1), ch(3)],
                gone: vec![ch(2)],
            })
            .await
            .unwrap();
        assert_eq!(
            n,
            CatalogCounts {
                added: 0,
                changed: 1,
                removed: 1,
                relisted: 1
            }
        );
        assert_eq!(s.get_device(&ch(1)).await.unwrap().unwrap().name, "东门 新");
        let again = s
            .write_catalog(&CatalogWrite {
                source: nvr(),
                at: AT + 120,
                added: vec![],
                changed: vec![],
                listed: vec![ch(1), ch(3)],
                gone: vec![ch(2)],
            })
            .await
            .unwrap();
        assert_eq!(
            again,
            CatalogCounts::default(),
            "a flagged channel is flagged once"
        );
        let removed = s
            .catalog_channels(&ChannelQuery {
                removed_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            removed.iter().map(|c| c.code).collect::<Vec<_>>(),
            vec![ch(2)]
        );
        assert_eq!(removed[0].removed_at, Some(AT + 60));
        assert_eq!(removed[0].first_seen_at, AT);

        let g = |a: &str, t: DeviceCode| ("gb28181".to_string(), a.to_string(), t.to_string());
        assert_eq!(
            audit(s.as_ref(), "gb28181.").await,
            vec![
                g("gb28181.channel.add", ch(2)),
                g("gb28181.channel.change", ch(1)),
                g("gb28181.channel.relisted", ch(3)),
                g("gb28181.channel.removed", ch(2)),
                g("gb28181.channel.removed", ch(3)),
            ]
        );
        let change = s
            .audit_page(&AuditQuery {
                action: Some("gb28181.channel.change".into()),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        let detail: serde_json::Value = serde_json::from_str(&change[0].1.detail).unwrap();
        assert_eq!(detail["fields"]["name"]["from"], "东门");
        assert_eq!(detail["fields"]["name"]["to"], "东门 新");
        assert_eq!(detail["source"], nvr().to_string());
    }
);

on_all_backends!(
    operators_confirm_by_code_or_parent,
    |s: Arc<dyn Store>| async move {
        s.write_catalog(&CatalogWrite {
            source: nvr(),
            at: AT,
            added: (1..=3).map(|n| channel(n, "c")).collect(),
            changed: vec![],
            listed: vec![ch(1), ch(2), ch(3)],
            gone: vec![],
        })
        .await
        .unwrap();
        // A code that is no unconfirmed channel: nothing at all is confirmed.
        let e = s
            .confirm_channels(&ConfirmTarget::Codes(vec![ch(1), ch(9)]), "cli:op", AT + 1)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.to_string().contains(&ch(9).to_string()), "{e}");
        assert_eq!(s.unconfirmed_codes().await.unwrap().len(), 3);

        let done = s
            .confirm_channels(&ConfirmTarget::Codes(vec![ch(1)]), "cli:op", AT + 1)
            .await
            .unwrap();
        assert_eq!(done, vec![ch(1)]);
        let e = s
            .confirm_channels(&ConfirmTarget::Codes(vec![ch(1)]), "cli:op", AT + 2)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("already confirmed"), "{e}");
        let done = s
            .confirm_channels(&ConfirmTarget::Parent(nvr()), "cli:op", AT + 2)
            .await
            .unwrap();
        assert_eq!(done, vec![ch(2), ch(3)]);
        assert!(s.unconfirmed_codes().await.unwrap().is_empty());
        let c1 = &s.catalog_channels(&ChannelQuery::default()).await.unwrap()[0];
        assert_eq!(
            (c1.confirmed_at, c1.confirmed_by.as_deref()),
            (Some(AT + 1), Some("cli:op"))
        );
        let trail = audit(s.as_ref(), "register.confirm").await;
        assert_eq!(
            trail,
            (1..=3)
                .map(|n| (
                    "cli:op".to_string(),
                    "register.confirm".to_string(),
                    ch(n).to_string()
                ))
                .collect::<Vec<_>>()
        );
    }
);

on_all_backends!(
    unknown_devices_are_stored_bounded,
    |s: Arc<dyn Store>| async move {
        let from: std::net::SocketAddr = "192.0.2.7:5060".parse().unwrap();
        let other: std::net::SocketAddr = "192.0.2.8:5061".parse().unwrap();
        let attempt = |n: u32, at: i64, from| UnknownAttempt {
            code: ch(n),
            from,
            at,
        };
        s.record_unknown_devices(&[attempt(0, AT, from), attempt(0, AT + 5, from)])
            .await
            .unwrap();
        s.record_unknown_devices(&[attempt(0, AT + 9, other)])
            .await
            .unwrap();
        let rows = s.unknown_devices(10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].first_seen_at,
                rows[0].last_seen_at,
                rows[0].attempts,
                rows[0].last_addr.as_str()
            ),
            (AT, AT + 9, 3, "192.0.2.8:5061")
        );
        // More than the bound: the least recently seen go first.
        let many: Vec<_> = (1..=MAX_UNKNOWN_STORED as u32 + 5)
            .map(|n| attempt(n, AT + 100 + i64::from(n), from))
            .collect();
        s.record_unknown_devices(&many).await.unwrap();
        let rows = s.unknown_devices(MAX_UNKNOWN_STORED * 2).await.unwrap();
        assert_eq!(rows.len() as u64, MAX_UNKNOWN_STORED);
        assert_eq!(rows[0].code, ch(MAX_UNKNOWN_STORED as u32 + 5));
        let kept: HashSet<_> = rows.iter().map(|r| r.code).collect();
        for gone in 0..=5 {
            assert!(
                !kept.contains(&ch(gone)),
                "{} should be forgotten",
                ch(gone)
            );
        }
    }
);

on_all_backends!(recording_changes_keep_their_start_and_history, |s: Arc<
    dyn Store,
>| async move {
    use camwatch_core::signalling::OnOff::{Off, On};
    use camwatch_store::gb_recording::RecordingWrite;
    let w = |code: DeviceCode, at: i64, record| RecordingWrite {
        code,
        at,
        record,
        encode: On,
        status: On,
    };
    // First answers: one recording, one not.
    assert_eq!(
        s.record_recording(&[w(ch(1), AT, On), w(ch(2), AT, Off)])
            .await
            .unwrap()
            .len(),
        2
    );
    // A restart's first answer, the same as stored: no history, the start kept.
    assert_eq!(
        s.record_recording(&[w(ch(2), AT + 600, Off)])
            .await
            .unwrap(),
        Vec::new()
    );
    // Encode changes while recording stays off: history, the start of "off" kept.
    let mut enc = w(ch(2), AT + 1200, Off);
    enc.encode = Off;
    // What changed, as stored: the start of "off" kept (the bus announces this).
    let changed = s.record_recording(&[enc]).await.unwrap();
    assert_eq!(
        changed
            .iter()
            .map(|r| (r.code, r.encode, r.since, r.changed_at))
            .collect::<Vec<_>>(),
        [(ch(2), Off, AT, AT + 1200)]
    );
    let off = s.recording_states(true, 100).await.unwrap();
    assert_eq!(off.len(), 1);
    assert_eq!(
        (
            off[0].code,
            off[0].record,
            off[0].encode,
            off[0].since,
            off[0].changed_at
        ),
        (ch(2), Off, Off, AT, AT + 1200)
    );
    // Recording back on: a new start; no longer among the off ones.
    assert_eq!(
        s.record_recording(&[w(ch(2), AT + 1800, On)])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.recording_states(true, 100).await.unwrap().is_empty());
    let all = s.recording_states(false, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[1].record, all[1].since), (On, AT + 1800));
    let h: Vec<(i64, _, _)> = s
        .recording_history(&ch(2))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.at, c.record, c.encode))
        .collect();
    assert_eq!(
        h,
        vec![(AT, Off, On), (AT + 1200, Off, Off), (AT + 1800, On, On)]
    );
});

on_all_backends!(
    sip_facts_are_kept_per_peer_and_read_back_as_history,
    |s: Arc<dyn Store>| async move {
        use camwatch_core::signalling::{
            CatalogFacts, InfoFacts, PeerFacts, SipPresence, SipTransport,
        };
        assert!(s.sip_facts().await.unwrap().is_empty());
        let live = PeerFacts {
            code: nvr(),
            presence: SipPresence::Online,
            offline_at: Some(AT + 180),
            transport: Some(SipTransport::Udp),
            addr: Some("10.1.2.3:5060".parse().unwrap()),
            registered_at: Some(AT - 60),
            expires_at: Some(AT + 3540),
            last_keepalive: Some(AT),
            keepalive_interval_sec: 60,
            keepalive_misses: 3,
            missed_now: 0,
            catalog: Some(CatalogFacts {
                at: AT - 59,
                channels: 64,
                announced: 64,
                pages: 3,
                complete: true,
            }),
            info: Some(InfoFacts {
                at: AT - 58,
                manufacturer: Some("海康".into()),
                model: None,
                firmware: Some("V5.5".into()),
                channels: Some(64),
            }),
            recording: None,
            stored_at: None,
        };
        let bare = PeerFacts {
            code: ch(1),
            transport: Some(SipTransport::Tcp),
            catalog: None,
            info: None,
            ..live.clone()
        };
        s.write_sip_facts(&[live.clone(), bare.clone()], AT + 1)
            .await
            .unwrap();
        // Written again later: replaced, not added.
        let later = PeerFacts {
            last_keepalive: Some(AT + 60),
            ..live.clone()
        };
        s.write_sip_facts(&[later], AT + 61).await.unwrap();
        let read = s.sip_facts().await.unwrap();
        assert_eq!(read.len(), 2);
        let want = |f: &PeerFacts, at: i64| PeerFacts {
            presence: SipPresence::NeverRegistered,
            offline_at: None,
            stored_at: Some(at),
            ..f.clone()
        };
        let by: std::collections::HashMap<_, _> = read.into_iter().map(|f| (f.code, f)).collect();
        assert_eq!(
            by[&nvr()],
            want(
                &PeerFacts {
                    last_keepalive: Some(AT + 60),
                    ..live
                },
                AT + 61
            )
        );
        assert_eq!(by[&ch(1)], want(&bare, AT + 1));
    }
);
