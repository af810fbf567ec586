//! GB/T 28181 peers' last known signalling facts in the store (table `gb_sip_facts`, migration
//! 0015): registration, last keepalive, last catalog and last DeviceInfo, as the platform last
//! saw them, so that a restarted node can show them (marked as from before its start) until the
//! peer is heard again.
//!
//! - **One row per peer**, replaced by each write (the register bounds the rows: the platform
//!   writes only devices of the register).
//! - **Read back as history**: [`SipFactsStore::sip_facts`] gives each row with `stored_at`
//!   set to when it was written and the presence `never_registered` (nothing heard since the
//!   start); a registration from before a restart proves nothing now.
//!
//! Must not: decide when to write (`camwatch_gb28181::facts_flush` does), or hold recording
//! health (`gb_recording` does).

use async_trait::async_trait;

use camwatch_core::error::Result;
use camwatch_core::signalling::PeerFacts;

#[async_trait]
pub trait SipFactsStore: Send + Sync {
    /// Replaces the stored facts of each peer in `facts` by them, written at `at`, in one
    /// transaction. `presence`, `offline_at`, `missed_now` and `recording` are not stored.
    async fn write_sip_facts(&self, facts: &[PeerFacts], at: i64) -> Result<()>;
    /// Every stored peer's facts, by code (see the module doc).
    async fn sip_facts(&self) -> Result<Vec<PeerFacts>>;
}

/// A stored transport's text as the enum.
pub(crate) fn transport(
    s: Option<String>,
) -> Result<Option<camwatch_core::signalling::SipTransport>> {
    s.map(|t| {
        t.parse().map_err(|e: String| {
            camwatch_core::error::Error::internal(format!("stored SIP transport: {e}"))
        })
    })
    .transpose()
}

/// A stored count as `u32` (written from one).
pub(crate) fn count(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

macro_rules! sip_facts_sql {
    ($ty:ident, $db:ty, $begin:literal) => {
        #[async_trait::async_trait]
        impl $crate::gb_sip_facts::SipFactsStore for $ty {
            async fn write_sip_facts(
                &self,
                facts: &[camwatch_core::signalling::PeerFacts],
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                if facts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                for f in facts {
                    let c = f.catalog.as_ref();
                    let i = f.info.as_ref();
                    sqlx::query(
                        "INSERT INTO gb_sip_facts (code, transport, addr, registered_at, \
                         expires_at, last_keepalive, keepalive_interval_sec, keepalive_misses, \
                         catalog_at, catalog_channels, catalog_announced, catalog_pages, \
                         catalog_complete, info_at, info_manufacturer, info_model, \
                         info_firmware, info_channels, written_at) VALUES ($1, $2, $3, $4, $5, \
                         $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
                         ON CONFLICT (code) DO UPDATE SET transport = excluded.transport, \
                         addr = excluded.addr, registered_at = excluded.registered_at, \
                         expires_at = excluded.expires_at, \
                         last_keepalive = excluded.last_keepalive, \
                         keepalive_interval_sec = excluded.keepalive_interval_sec, \
                         keepalive_misses = excluded.keepalive_misses, \
                         catalog_at = excluded.catalog_at, \
                         catalog_channels = excluded.catalog_channels, \
                         catalog_announced = excluded.catalog_announced, \
                         catalog_pages = excluded.catalog_pages, \
                         catalog_complete = excluded.catalog_complete, \
                         info_at = excluded.info_at, \
                         info_manufacturer = excluded.info_manufacturer, \
                         info_model = excluded.info_model, \
                         info_firmware = excluded.info_firmware, \
                         info_channels = excluded.info_channels, \
                         written_at = excluded.written_at",
                    )
                    .bind(f.code.to_string())
                    .bind(f.transport.map(|t| t.as_str()))
                    .bind(f.addr.map(|a| a.to_string()))
                    .bind(f.registered_at)
                    .bind(f.expires_at)
                    .bind(f.last_keepalive)
                    .bind(i64::from(f.keepalive_interval_sec))
                    .bind(i64::from(f.keepalive_misses))
                    .bind(c.map(|c| c.at))
                    .bind(c.map(|c| i64::from(c.channels)))
                    .bind(c.map(|c| i64::from(c.announced)))
                    .bind(c.map(|c| i64::from(c.pages)))
                    .bind(c.map(|c| c.complete))
                    .bind(i.map(|i| i.at))
                    .bind(i.and_then(|i| i.manufacturer.clone()))
                    .bind(i.and_then(|i| i.model.clone()))
                    .bind(i.and_then(|i| i.firmware.clone()))
                    .bind(i.and_then(|i| i.channels.map(i64::from)))
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn sip_facts(
                &self,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::signalling::PeerFacts>> {
                use camwatch_core::signalling::{CatalogFacts, InfoFacts, PeerFacts, SipPresence};
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT code, transport, addr, registered_at, expires_at, last_keepalive, \
                     keepalive_interval_sec, keepalive_misses, catalog_at, catalog_channels, \
                     catalog_announced, catalog_pages, catalog_complete, info_at, \
                     info_manufacturer, info_model, info_firmware, info_channels, written_at \
                     FROM gb_sip_facts ORDER BY code",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let code: String = r.try_get(0).map_err(crate::db_error)?;
                    let addr: Option<String> = r.try_get(2).map_err(crate::db_error)?;
                    let catalog_at: Option<i64> = r.try_get(8).map_err(crate::db_error)?;
                    let info_at: Option<i64> = r.try_get(13).map_err(crate::db_error)?;
                    let catalog = match catalog_at {
                        Some(at) => Some(CatalogFacts {
                            at,
                            channels: $crate::gb_sip_facts::count(
                                r.try_get::<Option<i64>, _>(9).map_err(crate::db_error)?.unwrap_or(0),
                            ),
                            announced: $crate::gb_sip_facts::count(
                                r.try_get::<Option<i64>, _>(10).map_err(crate::db_error)?.unwrap_or(0),
                            ),
                            pages: $crate::gb_sip_facts::count(
                                r.try_get::<Option<i64>, _>(11).map_err(crate::db_error)?.unwrap_or(0),
                            ),
                            complete: r.try_get::<Option<bool>, _>(12).map_err(crate::db_error)?.unwrap_or(false),
                        }),
                        None => None,
                    };
                    let info = match info_at {
                        Some(at) => Some(InfoFacts {
                            at,
                            manufacturer: r.try_get(14).map_err(crate::db_error)?,
                            model: r.try_get(15).map_err(crate::db_error)?,
                            firmware: r.try_get(16).map_err(crate::db_error)?,
                            channels: r
                                .try_get::<Option<i64>, _>(17)
                                .map_err(crate::db_error)?
                                .map($crate::gb_sip_facts::count),
                        }),
                        None => None,
                    };
                    out.push(PeerFacts {
                        code: $crate::gb28181::parse_code(&code, "gb_sip_facts code")?,
                        presence: SipPresence::NeverRegistered,
                        offline_at: None,
                        transport: $crate::gb_sip_facts::transport(r.try_get(1).map_err(crate::db_error)?)?,
                        // Written from a socket address; anything else reads as unknown.
                        addr: addr.and_then(|a| a.parse().ok()),
                        registered_at: r.try_get(3).map_err(crate::db_error)?,
                        expires_at: r.try_get(4).map_err(crate::db_error)?,
                        last_keepalive: r.try_get(5).map_err(crate::db_error)?,
                        keepalive_interval_sec: $crate::gb_sip_facts::count(
                            r.try_get(6).map_err(crate::db_error)?,
                        ),
                        keepalive_misses: $crate::gb_sip_facts::count(r.try_get(7).map_err(crate::db_error)?),
                        missed_now: 0,
                        catalog,
                        info,
                        recording: None,
                        stored_at: Some(r.try_get(18).map_err(crate::db_error)?),
                    });
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use sip_facts_sql;
