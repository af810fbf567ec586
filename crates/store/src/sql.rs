//! The SQL both backends share. SQLite and PostgreSQL accept the same `$N` placeholders,
//! `ON CONFLICT … DO UPDATE`, partial unique indexes and `RETURNING`, so one body of queries
//! serves both; `sql_store!` stamps it out for each concrete `sqlx` pool type. A macro rather
//! than generics because sqlx's generic executor bounds would dwarf the queries themselves.

/// Rows per multi-row INSERT. SQLite allows 32,766 bound values per statement and PostgreSQL
/// 65,535; 33 values a device row keeps 500 rows well inside both.
pub(crate) const DEVICE_BATCH: usize = 500;
pub(crate) const SPAN_BATCH: usize = 2000;

macro_rules! sql_store {
    ($ty:ident, $db:ty, $backend:literal, $begin:literal) => {
        impl $ty {
            fn device_from_row(
                &self,
                row: &<$db as sqlx::Database>::Row,
            ) -> camwatch_core::error::Result<camwatch_core::registry::Device> {
                use sqlx::Row;
                let kind: String = row.try_get("kind").map_err(crate::db_error)?;
                let cols = $crate::rows::DeviceColumns {
                    code: row.try_get("code").map_err(crate::db_error)?,
                    name: row.try_get("name").map_err(crate::db_error)?,
                    kind: $crate::rows::kind_static(&kind).ok_or_else(|| {
                        camwatch_core::error::Error::internal(format!("stored device kind {kind:?}"))
                    })?,
                    parent_code: row.try_get("parent_code").map_err(crate::db_error)?,
                    ip: row.try_get("ip").map_err(crate::db_error)?,
                    rtsp_port: row.try_get("rtsp_port").map_err(crate::db_error)?,
                    http_port: row.try_get("http_port").map_err(crate::db_error)?,
                    stream_urls: row.try_get("stream_urls").map_err(crate::db_error)?,
                    onvif_url: row.try_get("onvif_url").map_err(crate::db_error)?,
                    snapshot_url: row.try_get("snapshot_url").map_err(crate::db_error)?,
                    username: row.try_get("username").map_err(crate::db_error)?,
                    password_sealed: row.try_get("password_sealed").map_err(crate::db_error)?,
                    civil_code: row.try_get("civil_code").map_err(crate::db_error)?,
                    police_station: row.try_get("police_station").map_err(crate::db_error)?,
                    address: row.try_get("address").map_err(crate::db_error)?,
                    longitude: row.try_get("longitude").map_err(crate::db_error)?,
                    latitude: row.try_get("latitude").map_err(crate::db_error)?,
                    place_type: row.try_get("place_type").map_err(crate::db_error)?,
                    build_type: row.try_get("build_type").map_err(crate::db_error)?,
                    build_date: row.try_get("build_date").map_err(crate::db_error)?,
                    vendor: row.try_get("vendor").map_err(crate::db_error)?,
                    model: row.try_get("model").map_err(crate::db_error)?,
                    resolution: row.try_get("resolution").map_err(crate::db_error)?,
                    maintainer: row.try_get("maintainer").map_err(crate::db_error)?,
                    maintainer_contact: row.try_get("maintainer_contact").map_err(crate::db_error)?,
                    maintainer_phone: row.try_get("maintainer_phone").map_err(crate::db_error)?,
                    monthly_fee_fen: row.try_get("monthly_fee_fen").map_err(crate::db_error)?,
                    monthly_link_fee_fen: row.try_get("monthly_link_fee_fen").map_err(crate::db_error)?,
                    contract_from: row.try_get("contract_from").map_err(crate::db_error)?,
                    contract_to: row.try_get("contract_to").map_err(crate::db_error)?,
                    tags: row.try_get("tags").map_err(crate::db_error)?,
                    extra: row.try_get("extra").map_err(crate::db_error)?,
                };
                cols.into_device(&self.key)
            }

            async fn devices_by_codes(
                &self,
                codes: &[camwatch_core::registry::DeviceCode],
            ) -> camwatch_core::error::Result<
                std::collections::HashMap<camwatch_core::registry::DeviceCode, camwatch_core::registry::Device>,
            > {
                let mut out = std::collections::HashMap::new();
                for chunk in codes.chunks($crate::sql::DEVICE_BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM device WHERE code IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.to_string());
                    }
                    qb.push(")");
                    let rows = qb.build().fetch_all(&self.pool).await.map_err(crate::db_error)?;
                    for row in &rows {
                        let d = self.device_from_row(row)?;
                        out.insert(d.code, d);
                    }
                }
                Ok(out)
            }
        }

        /// Inserts or updates `devices` by code inside `tx`, stamping `updated_at = now`;
        /// passwords sealed with `key`. Shared by `upsert_devices` and the catalog sync
        /// (`gb28181`), which must add channels in the same transaction as their marks.
        async fn write_devices(
            tx: &mut sqlx::Transaction<'_, $db>,
            key: &camwatch_core::secret::SecretKey,
            changed: &[&camwatch_core::registry::Device],
            now: i64,
        ) -> camwatch_core::error::Result<()> {
            use $crate::rows::{COLUMNS, DeviceColumns};
            for chunk in changed.chunks($crate::sql::DEVICE_BATCH) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO device (");
                qb.push(COLUMNS.join(", "));
                qb.push(", updated_at) ");
                qb.push_values(chunk.iter(), |mut b, d| {
                    let c = DeviceColumns::from_device(d, key);
                    b.push_bind(c.code)
                        .push_bind(c.name)
                        .push_bind(c.kind)
                        .push_bind(c.parent_code)
                        .push_bind(c.ip)
                        .push_bind(c.rtsp_port)
                        .push_bind(c.http_port)
                        .push_bind(c.stream_urls)
                        .push_bind(c.onvif_url)
                        .push_bind(c.snapshot_url)
                        .push_bind(c.username)
                        .push_bind(c.password_sealed)
                        .push_bind(c.civil_code)
                        .push_bind(c.police_station)
                        .push_bind(c.address)
                        .push_bind(c.longitude)
                        .push_bind(c.latitude)
                        .push_bind(c.place_type)
                        .push_bind(c.build_type)
                        .push_bind(c.build_date)
                        .push_bind(c.vendor)
                        .push_bind(c.model)
                        .push_bind(c.resolution)
                        .push_bind(c.maintainer)
                        .push_bind(c.maintainer_contact)
                        .push_bind(c.maintainer_phone)
                        .push_bind(c.monthly_fee_fen)
                        .push_bind(c.monthly_link_fee_fen)
                        .push_bind(c.contract_from)
                        .push_bind(c.contract_to)
                        .push_bind(c.tags)
                        .push_bind(c.extra)
                        .push_bind(now);
                });
                qb.push(" ON CONFLICT (code) DO UPDATE SET ");
                let sets: Vec<String> = COLUMNS[1..]
                    .iter()
                    .chain(std::iter::once(&"updated_at"))
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect();
                qb.push(sets.join(", "));
                qb.build().execute(&mut **tx).await.map_err(crate::db_error)?;
            }
            Ok(())
        }

        /// Closes the open spans of monitor instance `id` at `at`; a span opened at or after
        /// `at` never held and is dropped. Returns the number closed.
        async fn close_spans_of(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: i64,
            at: i64,
        ) -> camwatch_core::error::Result<u64> {
            sqlx::query(
                "DELETE FROM status_span WHERE instance_id = $1 AND end_at IS NULL AND start_at >= $2",
            )
            .bind(id)
            .bind(at)
            .execute(&mut **tx)
            .await.map_err(crate::db_error)?;
            let r = sqlx::query(
                "UPDATE status_span SET end_at = $1 WHERE instance_id = $2 AND end_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await.map_err(crate::db_error)?;
            Ok(r.rows_affected())
        }

        /// Refuses (`Unavailable`) a write of instance `id` once it is recorded as stopped
        /// (taken for dead, see `nodes`): nothing it buffered is written beside the shards' new
        /// holders. On PostgreSQL the row stays share-locked to the end of the transaction, so a
        /// recovery (`FOR UPDATE SKIP LOCKED`) cannot slip in between; SQLite's `BEGIN
        /// IMMEDIATE` already serialises writers.
        async fn still_running(
            tx: &mut sqlx::Transaction<'_, $db>,
            id: i64,
        ) -> camwatch_core::error::Result<()> {
            let sql = if $backend == "postgres" {
                "SELECT id FROM monitor_instance WHERE id = $1 AND stopped_at IS NULL FOR SHARE"
            } else {
                "SELECT id FROM monitor_instance WHERE id = $1 AND stopped_at IS NULL"
            };
            let row: Option<i64> = sqlx::query_scalar(sql)
                .bind(id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(crate::db_error)?;
            match row {
                Some(_) => Ok(()),
                None => Err(camwatch_core::error::Error::new(
                    camwatch_core::error::ErrorKind::Unavailable,
                    format!("instance {id} is recorded as stopped (taken for dead): not writing"),
                )),
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn upsert_devices(
                &self,
                devices: &[camwatch_core::registry::Device],
            ) -> camwatch_core::error::Result<$crate::UpsertCounts> {
                let codes: Vec<_> = devices.iter().map(|d| d.code).collect();
                let existing = self.devices_by_codes(&codes).await?;
                let mut counts = $crate::UpsertCounts::default();
                let mut changed = Vec::new();
                for d in devices {
                    match existing.get(&d.code) {
                        Some(old) if old == d => counts.unchanged += 1,
                        Some(_) => {
                            counts.updated += 1;
                            changed.push(d);
                        }
                        None => {
                            counts.inserted += 1;
                            changed.push(d);
                        }
                    }
                }
                let now = jiff::Timestamp::now().as_second();
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                write_devices(&mut tx, &self.key, &changed, now).await?;
                tx.commit().await.map_err(crate::db_error)?;
                Ok(counts)
            }

            async fn list_devices_by_codes(
                &self,
                codes: &[camwatch_core::registry::DeviceCode],
            ) -> camwatch_core::error::Result<
                std::collections::HashMap<camwatch_core::registry::DeviceCode, camwatch_core::registry::Device>,
            > {
                self.devices_by_codes(codes).await
            }

            async fn get_device(
                &self,
                code: &camwatch_core::registry::DeviceCode,
            ) -> camwatch_core::error::Result<Option<camwatch_core::registry::Device>> {
                let row = sqlx::query("SELECT * FROM device WHERE code = $1")
                    .bind(code.to_string())
                    .fetch_optional(&self.pool)
                    .await.map_err(crate::db_error)?;
                row.map(|r| self.device_from_row(&r)).transpose()
            }

            async fn list_devices(
                &self,
                filter: &$crate::DeviceFilter,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::registry::Device>> {
                use futures::TryStreamExt;
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM device WHERE 1=1");
                if let Some(p) = &filter.region_prefix {
                    qb.push(" AND coalesce(civil_code, substr(code, 1, 6)) LIKE ");
                    qb.push_bind(format!("{}%", p.replace(['%', '_'], "")));
                }
                if let Some(m) = &filter.maintainer {
                    qb.push(" AND maintainer = ");
                    qb.push_bind(m.clone());
                }
                if let Some(k) = filter.kind {
                    qb.push(" AND kind = ");
                    qb.push_bind(k.as_str());
                }
                qb.push(" ORDER BY code");
                if let Some(l) = filter.limit {
                    qb.push(" LIMIT ");
                    qb.push_bind(l as i64);
                }
                let mut rows = qb.build().fetch(&self.pool);
                let mut out = Vec::new();
                while let Some(row) = rows.try_next().await.map_err(crate::db_error)? {
                    out.push(self.device_from_row(&row)?);
                }
                Ok(out)
            }

            async fn list_devices_for_report(
                &self,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::registry::Device>> {
                self.scan_report_devices().await
            }

            async fn count_devices(&self) -> camwatch_core::error::Result<u64> {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM device")
                    .fetch_one(&self.pool)
                    .await.map_err(crate::db_error)?;
                Ok(n as u64)
            }

            async fn register_revision(&self) -> camwatch_core::error::Result<$crate::RegisterRevision> {
                // The sum catches an update of an older device that leaves count and max alone.
                let (n, max, sum): (i64, i64, i64) = sqlx::query_as(
                    "SELECT count(*), CAST(COALESCE(max(updated_at), 0) AS BIGINT), \
                     CAST(COALESCE(sum(updated_at % 1000003), 0) AS BIGINT) FROM device",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(crate::db_error)?;
                Ok($crate::RegisterRevision {
                    devices: n as u64,
                    last_update_at: max,
                    update_sum: sum,
                })
            }

            async fn existing_codes(
                &self,
                codes: &[camwatch_core::registry::DeviceCode],
            ) -> camwatch_core::error::Result<std::collections::HashSet<camwatch_core::registry::DeviceCode>> {
                let mut out = std::collections::HashSet::new();
                for chunk in codes.chunks($crate::sql::DEVICE_BATCH) {
                    let mut qb =
                        sqlx::QueryBuilder::<$db>::new("SELECT code FROM device WHERE code IN (");
                    let mut sep = qb.separated(", ");
                    for c in chunk {
                        sep.push_bind(c.to_string());
                    }
                    qb.push(")");
                    let found: Vec<String> = qb.build_query_scalar().fetch_all(&self.pool).await.map_err(crate::db_error)?;
                    for f in found {
                        if let Ok(c) = f.parse() {
                            out.insert(c);
                        }
                    }
                }
                Ok(out)
            }

            async fn apply_transitions(
                &self,
                lease: &$crate::MonitorLease,
                transitions: &[$crate::Transition],
            ) -> camwatch_core::error::Result<()> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                still_running(&mut tx, lease.id().0).await?;
                for t in transitions {
                    let code = t.device.to_string();
                    let open: Option<(i64, String, i64)> = sqlx::query_as(
                        "SELECT id, status, start_at FROM status_span WHERE device_code = $1 AND end_at IS NULL",
                    )
                    .bind(&code)
                    .fetch_optional(&mut *tx)
                    .await.map_err(crate::db_error)?;
                    if let Some((id, status, start_at)) = open {
                        if status == t.status.as_str() {
                            continue;
                        }
                        if t.at < start_at {
                            // A batch written again after its commit's answer was lost (the
                            // connection cut at that moment): what it opened is there already.
                            let replay: Option<i64> = sqlx::query_scalar(
                                "SELECT id FROM status_span WHERE device_code = $1 AND start_at = $2
                                 AND status = $3 AND instance_id = $4",
                            )
                            .bind(&code)
                            .bind(t.at)
                            .bind(t.status.as_str())
                            .bind(lease.id().0)
                            .fetch_optional(&mut *tx)
                            .await.map_err(crate::db_error)?;
                            if replay.is_some() {
                                continue;
                            }
                            return Err(camwatch_core::error::Error::conflict(format!(
                                "device {code}: transition to {} at {} precedes its open {status} span starting {start_at}",
                                t.status, t.at
                            )));
                        }
                        if t.at == start_at {
                            // Zero-length span: the earlier status never held; replace it.
                            sqlx::query("DELETE FROM status_span WHERE id = $1 AND end_at IS NULL")
                                .bind(id)
                                .execute(&mut *tx)
                                .await.map_err(crate::db_error)?;
                        } else {
                            sqlx::query("UPDATE status_span SET end_at = $1 WHERE id = $2 AND end_at IS NULL")
                                .bind(t.at)
                                .bind(id)
                                .execute(&mut *tx)
                                .await.map_err(crate::db_error)?;
                        }
                    }
                    sqlx::query(
                        "INSERT INTO status_span (device_code, status, start_at, end_at, cause, instance_id) VALUES ($1, $2, $3, NULL, $4, $5)",
                    )
                    .bind(&code)
                    .bind(t.status.as_str())
                    .bind(t.at)
                    .bind(t.cause.as_ref().map(|c| c.to_string()))
                    .bind(lease.id().0)
                    .execute(&mut *tx)
                    .await.map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn end_watch(
                &self,
                lease: &$crate::MonitorLease,
                devices: Option<&[camwatch_core::registry::DeviceCode]>,
                at: i64,
            ) -> camwatch_core::error::Result<u64> {
                let me = lease.id().0;
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                still_running(&mut tx, me).await?;
                let closed = match devices {
                    None => close_spans_of(&mut tx, me, at).await?,
                    Some(devices) => {
                        let mut closed = 0;
                        for chunk in devices.chunks($crate::sql::DEVICE_BATCH) {
                            let mut drop_qb = sqlx::QueryBuilder::<$db>::new(
                                "DELETE FROM status_span WHERE start_at >= ",
                            );
                            drop_qb.push_bind(at);
                            let mut close_qb =
                                sqlx::QueryBuilder::<$db>::new("UPDATE status_span SET end_at = ");
                            close_qb.push_bind(at);
                            close_qb.push(" WHERE start_at < ");
                            close_qb.push_bind(at);
                            for qb in [&mut drop_qb, &mut close_qb] {
                                qb.push(" AND end_at IS NULL AND instance_id = ");
                                qb.push_bind(me);
                                qb.push(" AND device_code IN (");
                                let mut sep = qb.separated(", ");
                                for c in chunk {
                                    sep.push_bind(c.to_string());
                                }
                                qb.push(")");
                            }
                            drop_qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                            closed += close_qb
                                .build()
                                .execute(&mut *tx)
                                .await
                                .map_err(crate::db_error)?
                                .rows_affected();
                        }
                        closed
                    }
                };
                tx.commit().await.map_err(crate::db_error)?;
                Ok(closed)
            }

            async fn acquire_monitor(
                &self,
                host: &str,
                pid: u32,
                at: i64,
            ) -> camwatch_core::error::Result<$crate::MonitorLease> {
                let Some(guard) = self.take_monitor_lock().await? else {
                    // The holder recorded itself right after taking the lock: the newest row.
                    let holder: Option<(i64, String, i64, i64, i64)> = sqlx::query_as(
                        "SELECT id, host, pid, started_at, heartbeat_at FROM monitor_instance
                         WHERE stopped_at IS NULL ORDER BY id DESC LIMIT 1",
                    )
                    .fetch_optional(&self.pool)
                    .await.map_err(crate::db_error)?;
                    let holder = holder.map(|(id, host, pid, started_at, heartbeat_at)| {
                        $crate::MonitorInstance {
                            id: $crate::InstanceId(id),
                            host,
                            pid: pid as u32,
                            started_at,
                            heartbeat_at,
                        }
                    });
                    return Err($crate::lease::refused(holder.as_ref(), $backend, at));
                };
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO monitor_instance (host, pid, started_at, heartbeat_at)
                     VALUES ($1, $2, $3, $3) RETURNING id",
                )
                .bind(host)
                .bind(i64::from(pid))
                .bind(at)
                .fetch_one(&self.pool)
                .await.map_err(crate::db_error)?;
                let instance = $crate::MonitorInstance {
                    id: $crate::InstanceId(id),
                    host: host.to_string(),
                    pid,
                    started_at: at,
                    heartbeat_at: at,
                };
                Ok($crate::MonitorLease::new(instance, guard))
            }

            async fn recover_dead_monitors(
                &self,
                lease: &$crate::MonitorLease,
            ) -> camwatch_core::error::Result<Vec<($crate::MonitorInstance, u64)>> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let dead: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
                    "SELECT id, host, pid, started_at, heartbeat_at FROM monitor_instance
                     WHERE stopped_at IS NULL AND id <> $1 ORDER BY id",
                )
                .bind(lease.id().0)
                .fetch_all(&mut *tx)
                .await.map_err(crate::db_error)?;
                let mut out = Vec::with_capacity(dead.len());
                for (id, host, pid, started_at, heartbeat_at) in dead {
                    let closed = close_spans_of(&mut tx, id, heartbeat_at).await?;
                    sqlx::query(
                        "UPDATE monitor_instance SET stopped_at = heartbeat_at, stop_kind = 'recovered'
                         WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await.map_err(crate::db_error)?;
                    sqlx::query("DELETE FROM shard_lease WHERE instance_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await.map_err(crate::db_error)?;
                    sqlx::query("DELETE FROM duty_lease WHERE instance_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await.map_err(crate::db_error)?;
                    let instance = $crate::MonitorInstance {
                        id: $crate::InstanceId(id),
                        host,
                        pid: pid as u32,
                        started_at,
                        heartbeat_at,
                    };
                    out.push((instance, closed));
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(out)
            }

            async fn release_monitor(
                &self,
                lease: $crate::MonitorLease,
                at: i64,
            ) -> camwatch_core::error::Result<u64> {
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                let closed = close_spans_of(&mut tx, lease.id().0, at).await?;
                sqlx::query(
                    "UPDATE monitor_instance SET heartbeat_at = $1, stopped_at = $1, stop_kind = 'graceful'
                     WHERE id = $2",
                )
                .bind(at)
                .bind(lease.id().0)
                .execute(&mut *tx)
                .await.map_err(crate::db_error)?;
                // A node hands its shards over at once (docs/nodes.md).
                sqlx::query("DELETE FROM shard_lease WHERE instance_id = $1")
                    .bind(lease.id().0)
                    .execute(&mut *tx)
                    .await.map_err(crate::db_error)?;
                sqlx::query("DELETE FROM duty_lease WHERE instance_id = $1")
                    .bind(lease.id().0)
                    .execute(&mut *tx)
                    .await.map_err(crate::db_error)?;
                tx.commit().await.map_err(crate::db_error)?;
                // The lock is released only now: until the stop is recorded, no successor may
                // take this monitor for dead and close its spans at an older heartbeat.
                drop(lease);
                Ok(closed)
            }

            async fn insert_spans(
                &self,
                spans: &[camwatch_core::history::StatusSpan],
            ) -> camwatch_core::error::Result<u64> {
                $crate::check_spans_disjoint(spans)?;
                // History of months the store has not partitioned yet (PostgreSQL) gets its
                // partitions first, rather than waiting in the default one. Before the
                // transaction: making a partition locks the default one, which its reads hold.
                for at in $crate::retention::one_per_month(spans.iter().map(|s| s.end_at)) {
                    $crate::RetentionStore::prepare_months(self, at, at).await?;
                }
                let mut tx = self.pool.begin_with($begin).await.map_err(crate::db_error)?;
                // Clashes with stored history, checked per batch of devices with one query each
                // (a per-span query made a 6M-span import take minutes).
                let mut by_device: std::collections::BTreeMap<String, Vec<&camwatch_core::history::StatusSpan>> =
                    std::collections::BTreeMap::new();
                for s in spans {
                    by_device.entry(s.device.to_string()).or_default().push(s);
                }
                let codes: Vec<&String> = by_device.keys().collect();
                for batch in codes.chunks(500) {
                    let lo = batch.iter().flat_map(|c| by_device[*c].iter().map(|s| s.start_at)).min().unwrap_or(0);
                    let hi = batch.iter().flat_map(|c| by_device[*c].iter().map(|s| s.end_at)).max().unwrap_or(0);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT device_code, start_at, end_at, status FROM status_span WHERE start_at < ",
                    );
                    qb.push_bind(hi);
                    qb.push(" AND (end_at IS NULL OR end_at > ");
                    qb.push_bind(lo);
                    qb.push(") AND device_code IN (");
                    let mut sep = qb.separated(", ");
                    for c in batch {
                        sep.push_bind((*c).clone());
                    }
                    qb.push(")");
                    let stored: Vec<(String, i64, Option<i64>, String)> =
                        qb.build_query_as().fetch_all(&mut *tx).await.map_err(crate::db_error)?;
                    for (code, a, b, st) in stored {
                        let b_end = b.unwrap_or(i64::MAX);
                        if let Some(s) = by_device[&code]
                            .iter()
                            .find(|s| s.start_at < b_end && s.end_at > a)
                        {
                            return Err(camwatch_core::error::Error::conflict(format!(
                                "device {}: span {} [{}, {}) overlaps stored {st} span [{}, {})",
                                s.device,
                                s.status,
                                $crate::fmt_at(s.start_at),
                                $crate::fmt_at(s.end_at),
                                $crate::fmt_at(a),
                                b.map_or_else(|| "open".to_string(), $crate::fmt_at)
                            )));
                        }
                    }
                }
                for chunk in spans.chunks($crate::sql::SPAN_BATCH) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO status_span (device_code, status, start_at, end_at, cause) ",
                    );
                    qb.push_values(chunk.iter(), |mut b, s| {
                        b.push_bind(s.device.to_string())
                            .push_bind(s.status.as_str())
                            .push_bind(s.start_at)
                            .push_bind(s.end_at)
                            .push_bind(s.cause.as_ref().map(|c| c.to_string()));
                    });
                    qb.build().execute(&mut *tx).await.map_err(crate::db_error)?;
                }
                tx.commit().await.map_err(crate::db_error)?;
                Ok(spans.len() as u64)
            }

            async fn spans_overlapping(
                &self,
                from: i64,
                to: i64,
                open_until: i64,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::history::StatusSpan>> {
                // Each backend scans its own way (see `scan_spans`); the order is set here.
                let out = self.scan_spans(from, to, open_until).await?;
                tokio::task::spawn_blocking(move || {
                    let t = std::time::Instant::now();
                    let sorted = $crate::sort_spans(out);
                    tracing::debug!(elapsed_ms = t.elapsed().as_millis() as u64, "spans sorted");
                    sorted
                })
                    .await
                    .map_err(|e| camwatch_core::error::Error::internal(format!("sorting spans: {e}")))
            }

            async fn device_spans(
                &self,
                device: &camwatch_core::registry::DeviceCode,
                from: i64,
                to: i64,
                open_until: i64,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::history::StatusSpan>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT status, start_at, end_at, cause FROM status_span \
                     WHERE device_code = $1 AND start_at < $2 AND (end_at IS NULL OR end_at > $3) \
                     ORDER BY start_at",
                )
                .bind(device.as_str())
                .bind(to)
                .bind(from)
                .fetch_all(&self.pool)
                .await
                .map_err(crate::db_error)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let status: String = r.try_get("status").map_err(crate::db_error)?;
                    let start_at: i64 = r.try_get("start_at").map_err(crate::db_error)?;
                    let end_at: Option<i64> = r.try_get("end_at").map_err(crate::db_error)?;
                    let cause: Option<String> = r.try_get("cause").map_err(crate::db_error)?;
                    let end_at = end_at.unwrap_or(open_until);
                    if end_at <= start_at {
                        continue;
                    }
                    out.push(camwatch_core::history::StatusSpan {
                        device: *device,
                        status: status.parse().map_err(camwatch_core::error::Error::internal)?,
                        start_at,
                        end_at,
                        cause: camwatch_core::cause::from_stored(cause.as_deref()),
                    });
                }
                Ok(out)
            }

            async fn record_heartbeat(
                &self,
                lease: &$crate::MonitorLease,
                at: i64,
            ) -> camwatch_core::error::Result<()> {
                // A heartbeat claims the database is still ours: never write one without the lock.
                lease.check().await?;
                let r = sqlx::query(
                    "UPDATE monitor_instance SET heartbeat_at = $1 WHERE id = $2 AND stopped_at IS NULL",
                )
                .bind(at)
                .bind(lease.id().0)
                .execute(&self.pool)
                .await.map_err(crate::db_error)?;
                if r.rows_affected() == 0 {
                    // Only a node can be taken for dead while it runs (see `nodes`).
                    return Err(camwatch_core::error::Error::new(
                        camwatch_core::error::ErrorKind::Unavailable,
                        format!(
                            "instance {} is recorded as stopped (taken for dead): not writing",
                            lease.id()
                        ),
                    ));
                }
                Ok(())
            }

            async fn last_heartbeat(&self) -> camwatch_core::error::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT max(heartbeat_at) FROM monitor_instance")
                    .fetch_one(&self.pool)
                    .await.map_err(crate::db_error)?)
            }

            async fn add_exemption(
                &self,
                e: &camwatch_core::history::Exemption,
            ) -> camwatch_core::error::Result<i64> {
                if e.end_at <= e.start_at {
                    return Err(camwatch_core::error::Error::invalid(format!(
                        "exemption ends ({}) before it starts ({})",
                        $crate::fmt_at(e.end_at),
                        $crate::fmt_at(e.start_at)
                    )));
                }
                let (t, v) = $crate::scope_columns(&e.scope);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO exemption (scope_type, scope_value, reason, start_at, end_at, note, approved_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(t)
                .bind(v)
                .bind(e.reason.as_str())
                .bind(e.start_at)
                .bind(e.end_at)
                .bind(&e.note)
                .bind(&e.approved_by)
                .fetch_one(&self.pool)
                .await.map_err(crate::db_error)?;
                Ok(id)
            }

            async fn exemptions_overlapping(
                &self,
                from: i64,
                to: i64,
            ) -> camwatch_core::error::Result<Vec<camwatch_core::history::Exemption>> {
                let rows: Vec<(i64, String, String, String, i64, i64, String, String)> =
                    sqlx::query_as(
                        "SELECT id, scope_type, scope_value, reason, start_at, end_at, note, approved_by
                         FROM exemption WHERE start_at < $1 AND end_at > $2 ORDER BY id",
                    )
                    .bind(to)
                    .bind(from)
                    .fetch_all(&self.pool)
                    .await.map_err(crate::db_error)?;
                rows.into_iter()
                    .map(|(id, t, v, reason, start_at, end_at, note, approved_by)| {
                        Ok(camwatch_core::history::Exemption {
                            id,
                            scope: $crate::scope_from_columns(&t, &v)?,
                            reason: reason.parse().map_err(camwatch_core::error::Error::internal)?,
                            start_at,
                            end_at,
                            note,
                            approved_by,
                        })
                    })
                    .collect()
            }

            async fn append_audit(
                &self,
                entry: &$crate::AuditEntry,
            ) -> camwatch_core::error::Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(entry.at)
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&entry.detail)
                .execute(&self.pool)
                .await.map_err(crate::db_error)?;
                Ok(())
            }

            async fn audit_page(
                &self,
                q: &$crate::AuditQuery,
            ) -> camwatch_core::error::Result<Vec<(i64, $crate::AuditEntry)>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT id, at, actor, action, target, detail FROM audit_log WHERE 1=1",
                );
                if let Some(b) = q.before {
                    qb.push(" AND id < ");
                    qb.push_bind(b);
                }
                if let Some(a) = &q.actor {
                    qb.push(" AND actor = ");
                    qb.push_bind(a.clone());
                }
                if let Some(a) = &q.action {
                    // A prefix match without LIKE's wildcards: the user's `%` and `_` are text.
                    qb.push(" AND substr(action, 1, CAST(");
                    qb.push_bind(a.chars().count() as i64);
                    qb.push(" AS INTEGER)) = ");
                    qb.push_bind(a.clone());
                }
                if let Some(t) = &q.target {
                    qb.push(" AND target = ");
                    qb.push_bind(t.clone());
                }
                qb.push(" ORDER BY id DESC LIMIT ");
                qb.push_bind(q.limit.min(i64::MAX as u64) as i64);
                let rows: Vec<(i64, i64, String, String, String, String)> = qb
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, at, actor, action, target, detail)| {
                        (id, $crate::AuditEntry { at, actor, action, target, detail })
                    })
                    .collect())
            }

            async fn recent_audit(
                &self,
                limit: u64,
            ) -> camwatch_core::error::Result<Vec<$crate::AuditEntry>> {
                let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT at, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1",
                )
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await.map_err(crate::db_error)?;
                Ok(rows
                    .into_iter()
                    .map(|(at, actor, action, target, detail)| $crate::AuditEntry {
                        at,
                        actor,
                        action,
                        target,
                        detail,
                    })
                    .collect())
            }
        }
    };
}

pub(crate) use sql_store;
