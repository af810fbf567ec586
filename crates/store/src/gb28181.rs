//! GB/T 28181 in the store (tables `gb_channel`, `gb_unknown_device`; migration 0005): what
//! catalogs brought into the register, whether an operator has confirmed it, and the devices
//! that tried to register without being in the register.
//!
//! - **A catalog sync is one transaction**: the channels it adds (as register devices), the
//!   fields it changes, its `gb_channel` marks and one audit entry per channel (actor
//!   [`ACTOR`]) commit together or not at all, so a channel is never in the register without
//!   its mark (an unmarked device counts as confirmed).
//! - **Nothing is deleted**: a channel gone from a complete catalog keeps its register entry
//!   and gets `removed_at`; a later catalog that lists it again clears the mark (audited).
//! - **Unknown devices are bounded**: at most [`MAX_UNKNOWN_STORED`] rows, the least recently
//!   seen forgotten first.
//!
//! Must not: decide what a catalog means for the register (`camwatch_gb28181::outcomes` does),
//! or whether an unconfirmed channel counts (`Confirmation::counts`).

use std::collections::HashSet;
use std::net::SocketAddr;

use async_trait::async_trait;

use camwatch_core::error::Result;
use camwatch_core::registry::{Confirmation, Device, DeviceCode};

/// The audit actor of every change a catalog makes.
pub const ACTOR: &str = "gb28181";
/// The most unknown devices kept for review.
pub const MAX_UNKNOWN_STORED: u64 = 10_000;

/// One field a catalog changed, as text for the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A register device as a catalog changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelChange {
    pub after: Device,
    pub fields: Vec<FieldChange>,
}

/// What one catalog writes.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogWrite {
    /// The registered peer whose catalog this is.
    pub source: DeviceCode,
    pub at: i64,
    /// New register devices, marked unconfirmed.
    pub added: Vec<Device>,
    pub changed: Vec<ChannelChange>,
    /// Every valid code the catalog listed (added, changed or not): seen now, no longer removed.
    pub listed: Vec<DeviceCode>,
    /// Register devices a complete catalog of `source` no longer lists: flagged.
    pub gone: Vec<DeviceCode>,
}

/// What a catalog write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogCounts {
    pub added: u64,
    pub changed: u64,
    /// Newly flagged as removed (already flagged ones are not counted again).
    pub removed: u64,
    /// Listed again after having been flagged.
    pub relisted: u64,
}

/// A register device some catalog listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChannel {
    pub code: DeviceCode,
    pub source: DeviceCode,
    pub state: Confirmation,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub removed_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub confirmed_by: Option<String>,
}

/// Which catalog channels to list; filters combine with AND.
#[derive(Debug, Clone, Default)]
pub struct ChannelQuery {
    pub source: Option<DeviceCode>,
    pub state: Option<Confirmation>,
    /// Only those flagged as removed.
    pub removed_only: bool,
    pub limit: Option<u64>,
}

/// Which channels an operator confirms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmTarget {
    Codes(Vec<DeviceCode>),
    /// Every unconfirmed channel listed by this peer's catalogs or under it in the register.
    Parent(DeviceCode),
}

/// A registration attempt by a device not in the register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAttempt {
    pub code: DeviceCode,
    pub from: SocketAddr,
    pub at: i64,
}

/// A stored unknown device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDeviceRow {
    pub code: DeviceCode,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub last_addr: String,
    pub attempts: u64,
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Writes one catalog's sync in one transaction (see the module doc).
    async fn write_catalog(&self, w: &CatalogWrite) -> Result<CatalogCounts>;
    /// Register devices whose parent is `parent`, sorted by code.
    async fn devices_under(&self, parent: &DeviceCode) -> Result<Vec<Device>>;
    /// Sorted by code.
    async fn catalog_channels(&self, q: &ChannelQuery) -> Result<Vec<CatalogChannel>>;
    /// Register devices that are not contract points yet.
    async fn unconfirmed_codes(&self) -> Result<HashSet<DeviceCode>>;
    /// Confirms the unconfirmed channels `target` names (audit `register.confirm` by `actor`,
    /// one entry per channel) and returns them; a named code that is not an unconfirmed
    /// channel is `NotFound`, and nothing is confirmed.
    async fn confirm_channels(
        &self,
        target: &ConfirmTarget,
        actor: &str,
        at: i64,
    ) -> Result<Vec<DeviceCode>>;
    /// Records registration attempts of unknown devices, keeping the newest
    /// [`MAX_UNKNOWN_STORED`].
    async fn record_unknown_devices(&self, seen: &[UnknownAttempt]) -> Result<()>;
    /// The most recently seen first.
    async fn unknown_devices(&self, limit: u64) -> Result<Vec<UnknownDeviceRow>>;
}

/// The audit detail of a field change, as JSON.
pub(crate) fn change_detail(source: &DeviceCode, fields: &[FieldChange]) -> String {
    let mut m = serde_json::Map::new();
    for f in fields {
        m.insert(
            f.field.to_string(),
            serde_json::json!({ "from": f.before, "to": f.after }),
        );
    }
    serde_json::json!({ "source": source.to_string(), "fields": m }).to_string()
}

pub(crate) fn parse_code(s: &str, what: &str) -> Result<DeviceCode> {
    s.parse().map_err(|_| {
        camwatch_core::error::Error::internal(format!("stored {what} {s:?} is not a device code"))
    })
}

/// Rows per multi-row statement here (at most 8 values a row).
pub(crate) const BATCH: usize = 2000;

macro_rules! gb_sql {
    ($ty:ident, $db:ty, $begin:literal) => {
        impl $ty {
            /// Existing `gb_channel` rows among `codes`: code → removed_at.
            async fn gb_marks(
                tx: &mut sqlx::Transaction<'_, $db>,
                codes: &[camwatch_core::registry::DeviceCode],
            ) -> camwatch_core::error::Result<std::collections::HashMap<String, Option<i64>>> {
                let mut out = std::collections::HashMap::new();
                for chunk in codes.chunks($crate::gb28181::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT device_code, removed_at FROM gb_channel WHERE device_code IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.to_string());
                    }
                    qb.push(")");
                    let rows: Vec<(String, Option<i64>)> = qb
                        .build_query_as()
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(crate::db_error)?;
                    out.extend(rows);
                }
                Ok(out)
            }

            async fn gb_audit(
                tx: &mut sqlx::Transaction<'_, $db>,
                entries: &[(String, String, String)],
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                for chunk in entries.chunks($crate::gb28181::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO audit_log (at, actor, action, target, detail) ",
                    );
                    qb.push_values(chunk, |mut b, (action, target, detail)| {
                        b.push_bind(at)
                            .push_bind(actor)
                            .push_bind(action.as_str())
                            .push_bind(target.as_str())
                            .push_bind(detail.as_str());
                    });
                    qb.build().execute(&mut **tx).await.map_err(crate::db_error)?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::gb28181::CatalogStore for $ty {
            async fn write_catalog(
                &self,
                w: &$crate::gb28181::CatalogWrite,
            ) -> camwatch_core::error::Result<$crate::gb28181::CatalogCounts> {
                use camwatch_core::registry::Confirmation;
                let source = w.source.to_string();
                let mut counts = $crate::gb28181::CatalogCounts {
                    added: w.added.len() as u64,
                    changed: w.changed.len() as u64,
                    ..Default::default()
                };
                let mut audit: Vec<(String, String, String)> = Vec::new();
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let devices: Vec<&camwatch_core::registry::Device> = w
                    .added
                    .iter()
                    .chain(w.changed.iter().map(|c| &c.after))
                    .collect();
                write_devices(&mut tx, &self.key, &devices, w.at).await?;
                for d in &w.added {
                    audit.push((
                        "gb28181.channel.add".into(),
                        d.code.to_string(),
                        serde_json::json!({ "source": source, "name": d.name, "state": Confirmation::Unconfirmed.as_str() })
                            .to_string(),
                    ));
                }
                for c in &w.changed {
                    audit.push((
                        "gb28181.channel.change".into(),
                        c.after.code.to_string(),
                        $crate::gb28181::change_detail(&w.source, &c.fields),
                    ));
                }
                // Marks of the listed: new rows (unconfirmed when the catalog added the device,
                // confirmed when the register had it), seen now, no longer removed.
                let before = Self::gb_marks(&mut tx, &w.listed).await?;
                let added: std::collections::HashSet<_> = w.added.iter().map(|d| d.code).collect();
                for c in &w.listed {
                    if let Some(Some(_)) = before.get(c.as_str()) {
                        counts.relisted += 1;
                        audit.push((
                            "gb28181.channel.relisted".into(),
                            c.to_string(),
                            serde_json::json!({ "source": source }).to_string(),
                        ));
                    }
                }
                for chunk in w.listed.chunks($crate::gb28181::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO gb_channel (device_code, source_code, state, first_seen_at, last_seen_at) ",
                    );
                    qb.push_values(chunk, |mut b, c| {
                        let state = if added.contains(c) {
                            Confirmation::Unconfirmed
                        } else {
                            Confirmation::Confirmed
                        };
                        b.push_bind(c.to_string())
                            .push_bind(source.as_str())
                            .push_bind(state.as_str())
                            .push_bind(w.at)
                            .push_bind(w.at);
                    });
                    qb.push(
                        " ON CONFLICT (device_code) DO UPDATE SET last_seen_at = excluded.last_seen_at, \
                         source_code = excluded.source_code, removed_at = NULL",
                    );
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                // The gone: flagged once, with a row if they never had one.
                let before = Self::gb_marks(&mut tx, &w.gone).await?;
                let newly: Vec<_> = w
                    .gone
                    .iter()
                    .filter(|c| !matches!(before.get(c.as_str()), Some(Some(_))))
                    .collect();
                for chunk in newly.chunks($crate::gb28181::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO gb_channel (device_code, source_code, state, first_seen_at, last_seen_at, removed_at) ",
                    );
                    qb.push_values(chunk, |mut b, c| {
                        b.push_bind(c.to_string())
                            .push_bind(source.as_str())
                            .push_bind(Confirmation::Confirmed.as_str())
                            .push_bind(w.at)
                            .push_bind(w.at)
                            .push_bind(w.at);
                    });
                    qb.push(" ON CONFLICT (device_code) DO UPDATE SET removed_at = excluded.removed_at");
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                for c in &newly {
                    counts.removed += 1;
                    audit.push((
                        "gb28181.channel.removed".into(),
                        c.to_string(),
                        serde_json::json!({ "source": source }).to_string(),
                    ));
                }
                Self::gb_audit(&mut tx, &audit, $crate::gb28181::ACTOR, w.at).await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(counts)
            }

            async fn devices_under(
                &self,
                parent: &camwatch_core::registry::DeviceCode,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::registry::Device>> {
                let rows = sqlx::query("SELECT * FROM device WHERE parent_code = $1 ORDER BY code")
                    .bind(parent.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                rows.iter().map(|r| self.device_from_row(r)).collect()
            }

            async fn catalog_channels(
                &self,
                q: &$crate::gb28181::ChannelQuery,
            ) -> camwatch_core::error::Result<Vec<$crate::gb28181::CatalogChannel>> {
                use $crate::gb28181::parse_code;
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT device_code, source_code, state, first_seen_at, last_seen_at, removed_at, \
                     confirmed_at, confirmed_by FROM gb_channel WHERE 1=1",
                );
                if let Some(s) = &q.source {
                    qb.push(" AND source_code = ");
                    qb.push_bind(s.to_string());
                }
                if let Some(s) = q.state {
                    qb.push(" AND state = ");
                    qb.push_bind(s.as_str());
                }
                if q.removed_only {
                    qb.push(" AND removed_at IS NOT NULL");
                }
                qb.push(" ORDER BY device_code");
                if let Some(l) = q.limit {
                    qb.push(" LIMIT ");
                    qb.push_bind(l as i64);
                }
                #[allow(clippy::type_complexity)]
                let rows: Vec<(String, String, String, i64, i64, Option<i64>, Option<i64>, Option<String>)> = qb
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(code, source, state, first, last, removed, confirmed_at, confirmed_by)| {
                        Ok($crate::gb28181::CatalogChannel {
                            code: parse_code(&code, "gb_channel code")?,
                            source: parse_code(&source, "gb_channel source")?,
                            state: state.parse().map_err(camwatch_core::error::Error::internal)?,
                            first_seen_at: first,
                            last_seen_at: last,
                            removed_at: removed,
                            confirmed_at,
                            confirmed_by,
                        })
                    })
                    .collect()
            }

            async fn unconfirmed_codes(
                &self,
            ) -> camwatch_core::error::Result<std::collections::HashSet<camwatch_core::registry::DeviceCode>> {
                let rows: Vec<String> =
                    sqlx::query_scalar("SELECT device_code FROM gb_channel WHERE state = 'unconfirmed'")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(crate::db_error)?;
                rows.iter()
                    .map(|c| $crate::gb28181::parse_code(c, "gb_channel code"))
                    .collect()
            }

            async fn confirm_channels(
                &self,
                target: &$crate::gb28181::ConfirmTarget,
                actor: &str,
                at: i64,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::registry::DeviceCode>> {
                use $crate::gb28181::ConfirmTarget;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let codes: Vec<String> = match target {
                    ConfirmTarget::Codes(codes) => {
                        let mut found = Vec::new();
                        for c in codes {
                            let state: Option<String> = sqlx::query_scalar(
                                "SELECT state FROM gb_channel WHERE device_code = $1",
                            )
                            .bind(c.to_string())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(crate::db_error)?;
                            if state.as_deref() != Some("unconfirmed") {
                                return Err(camwatch_core::error::Error::not_found(format!(
                                    "{c} is not an unconfirmed catalog channel{}",
                                    if state.is_some() { " (already confirmed)" } else { "" }
                                )));
                            }
                            found.push(c.to_string());
                        }
                        found
                    }
                    ConfirmTarget::Parent(p) => sqlx::query_scalar(
                        "SELECT g.device_code FROM gb_channel g JOIN device d ON d.code = g.device_code \
                         WHERE g.state = 'unconfirmed' AND (g.source_code = $1 OR d.parent_code = $1) \
                         ORDER BY g.device_code",
                    )
                    .bind(p.to_string())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_error)?,
                };
                for chunk in codes.chunks($crate::gb28181::BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("UPDATE gb_channel SET state = 'confirmed', confirmed_at = ");
                    qb.push_bind(at);
                    qb.push(", confirmed_by = ");
                    qb.push_bind(actor);
                    qb.push(" WHERE device_code IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.as_str());
                    }
                    qb.push(")");
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                let detail = match target {
                    ConfirmTarget::Codes(_) => serde_json::json!({}).to_string(),
                    ConfirmTarget::Parent(p) => serde_json::json!({ "parent": p.to_string() }).to_string(),
                };
                let audit: Vec<(String, String, String)> = codes
                    .iter()
                    .map(|c| ("register.confirm".to_string(), c.clone(), detail.clone()))
                    .collect();
                Self::gb_audit(&mut tx, &audit, actor, at).await?;
                tx.commit().await.map_err(crate::db_error)?;
                codes
                    .iter()
                    .map(|c| $crate::gb28181::parse_code(c, "gb_channel code"))
                    .collect()
            }

            async fn record_unknown_devices(
                &self,
                seen: &[$crate::gb28181::UnknownAttempt],
            ) -> camwatch_core::error::Result<()> {
                if seen.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                for a in seen {
                    sqlx::query(
                        "INSERT INTO gb_unknown_device (code, first_seen_at, last_seen_at, last_addr, attempts) \
                         VALUES ($1, $2, $2, $3, 1) ON CONFLICT (code) DO UPDATE SET \
                         last_seen_at = excluded.last_seen_at, last_addr = excluded.last_addr, \
                         attempts = gb_unknown_device.attempts + 1",
                    )
                    .bind(a.code.to_string())
                    .bind(a.at)
                    .bind(a.from.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM gb_unknown_device")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                let over = n - $crate::gb28181::MAX_UNKNOWN_STORED as i64;
                if over > 0 {
                    sqlx::query(
                        "DELETE FROM gb_unknown_device WHERE code IN \
                         (SELECT code FROM gb_unknown_device ORDER BY last_seen_at, code LIMIT $1)",
                    )
                    .bind(over)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn unknown_devices(
                &self,
                limit: u64,
            ) -> camwatch_core::error::Result<Vec<$crate::gb28181::UnknownDeviceRow>> {
                let rows: Vec<(String, i64, i64, String, i64)> = sqlx::query_as(
                    "SELECT code, first_seen_at, last_seen_at, last_addr, attempts FROM gb_unknown_device \
                     ORDER BY last_seen_at DESC, code LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(code, first, last, addr, attempts)| {
                        Ok($crate::gb28181::UnknownDeviceRow {
                            code: $crate::gb28181::parse_code(&code, "gb_unknown_device code")?,
                            first_seen_at: first,
                            last_seen_at: last,
                            last_addr: addr,
                            attempts: attempts as u64,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use gb_sql;
