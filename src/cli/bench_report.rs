//! `camwatch bench report`: the monthly report for a large fleet, timed as a user runs it (the
//! real binary in a child process), with the child's peak RSS from `getrusage`.

use std::process::ExitCode;
use std::time::Instant;

use super::bench::tempfile_dir;
use camwatch_core::error::{Error, Result};
use camwatch_core::history::{Status, StatusSpan};
use camwatch_core::registry::generate::generate;
use camwatch_core::secret::SecretKey;
use camwatch_report::{Month, Period};

const MONTH: &str = "2026-10";

/// `per` spans for `code` tiling the month: mostly online, with offline and degraded runs
/// (deterministic for the device's position `i`).
fn spans_for(
    code: camwatch_core::registry::DeviceCode,
    i: u64,
    per: u32,
    p: &Period,
) -> Vec<StatusSpan> {
    let len = p.len();
    let mut cuts: Vec<i64> = (1..per as i64)
        .map(|k| {
            let jitter = ((i.wrapping_mul(2654435761) ^ (k as u64 * 40503)) % 3600) as i64;
            p.start_at + k * len / per as i64 - jitter
        })
        .collect();
    cuts.insert(0, p.start_at);
    cuts.push(p.end_at);
    cuts.windows(2)
        .enumerate()
        .map(|(k, w)| StatusSpan {
            device: code,
            status: match (k as u64 + i) % 4 {
                1 => Status::Offline,
                3 if i.is_multiple_of(3) => Status::Degraded,
                _ => Status::Online,
            },
            start_at: w[0],
            end_at: w[1],
            cause: (k % 4 == 1).then_some(camwatch_core::cause::Cause::Failure(
                camwatch_core::outcome::FailureKind::ConnectionRefused,
            )),
        })
        .collect()
}

async fn fill(
    url: &str,
    data: &std::path::Path,
    devices: u64,
    per: u32,
    p: &Period,
    history_months: u32,
) -> Result<()> {
    // The same key file the child report process will find in its data directory.
    let mut cfg = camwatch_core::config::Config::default();
    cfg.data.dir = data.to_path_buf();
    let key = SecretKey::load(&cfg.key_file()).map_err(|e| Error::internal(e.to_string()))?;
    let store = camwatch_store::connect(url, key).await?;
    let register = generate(devices, 7);
    for chunk in register.chunks(20_000) {
        store.upsert_devices(chunk).await?;
    }
    let channels: Vec<_> = register.iter().filter(|d| !d.kind.is_parent()).collect();
    let t = Instant::now();
    let mut batch = Vec::with_capacity(100_000);
    for (i, d) in channels.iter().enumerate() {
        batch.extend(spans_for(d.code, i as u64, per, p));
        if batch.len() >= 100_000 {
            store.insert_spans(&batch).await?;
            batch.clear();
        }
    }
    store.insert_spans(&batch).await?;
    println!(
        "  filled: {} channels, {} spans in {:.1} s",
        channels.len(),
        channels.len() as u64 * per as u64,
        t.elapsed().as_secs_f64()
    );
    if history_months > 0 && !url.starts_with("sqlite:") {
        // The history's month partitions, made as a running node makes them ahead.
        let first = p.start_at - i64::from(history_months) * HISTORY_MONTH_SECS;
        store.prepare_months(first, p.start_at).await?;
        drop(store);
        history(url, history_months, p).await?;
    } else {
        drop(store);
    }
    settle(url).await
}

/// The length of a history month in [`history`].
const HISTORY_MONTH_SECS: i64 = 31 * 86_400;

/// Adds `months` of history before the report's month on PostgreSQL, server-side: two spans
/// per channel and history month (online, then online or offline), the months 31 days long and
/// ending where the report's month begins, so none of them overlaps it. What a database
/// holding years of monitoring looks like to the report's read: a month's spans among many
/// more that it must not scan.
async fn history(url: &str, months: u32, p: &Period) -> Result<()> {
    use sqlx::Connection;
    const MONTH_SECS: i64 = HISTORY_MONTH_SECS;
    let t = Instant::now();
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(camwatch_store::db_error)?;
    let mut rows = 0;
    for k in 1..=i64::from(months) {
        let start = p.start_at - k * MONTH_SECS;
        let r = sqlx::query(
            "INSERT INTO status_span (device_code, status, start_at, end_at, cause)
             SELECT d.code,
                    CASE WHEN h = 1 AND abs(hashtext(d.code)) % 4 = 1 THEN 'offline' ELSE 'online' END,
                    $1 + h * $2, $1 + (h + 1) * $2,
                    CASE WHEN h = 1 AND abs(hashtext(d.code)) % 4 = 1 THEN 'connection_refused' END
             FROM device d CROSS JOIN generate_series(0, 1) AS h
             WHERE EXISTS (SELECT 1 FROM status_span s WHERE s.device_code = d.code)",
        )
        .bind(start)
        .bind(MONTH_SECS / 2)
        .execute(&mut c)
        .await
        .map_err(camwatch_store::db_error)?;
        rows += r.rows_affected();
    }
    println!(
        "  history: {months} months before the report's, {rows} spans in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Leaves the database as a month of monitoring does rather than as a bulk load does: the
/// SQLite WAL checkpointed; PostgreSQL's tables vacuumed and analysed (what autovacuum does
/// after a bulk load; the first scan after one also rewrites every page's hint bits) and
/// checkpointed.
async fn settle(url: &str) -> Result<()> {
    use sqlx::Connection;
    let t = Instant::now();
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url)
            .await
            .map_err(camwatch_store::db_error)?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await
            .map_err(camwatch_store::db_error)?;
    } else {
        let mut c = sqlx::PgConnection::connect(url)
            .await
            .map_err(camwatch_store::db_error)?;
        sqlx::query("VACUUM (ANALYZE) status_span, device")
            .execute(&mut c)
            .await
            .map_err(camwatch_store::db_error)?;
        // The bulk load's dirty pages, written now rather than by the checkpointer during the
        // report (needs a superuser or pg_checkpoint; without it the figure includes that I/O).
        if let Err(e) = sqlx::query("CHECKPOINT").execute(&mut c).await {
            println!("  CHECKPOINT refused ({e}): the report may share the disk with it");
        }
    }
    println!("  settled in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Runs the report in a child process; returns (wall seconds, peak RSS in MB, report size).
fn report_child(
    url: &str,
    contract: &std::path::Path,
    data: &std::path::Path,
) -> Result<(f64, f64, usize)> {
    let exe = std::env::current_exe().map_err(|e| Error::internal(e.to_string()))?;
    // Into a file, as a 200 MB report is saved (through a pipe, this process's reading it
    // would compete for the CPU and be timed too).
    let file = data.join("report.json");
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args(["--db", url, "--data"])
        .arg(data)
        .args(["report", "monthly", "--month", MONTH, "--contract"])
        .arg(contract)
        .arg("--out")
        .arg(&file)
        .env_remove("CAMWATCH_SECRET_KEY")
        .output()
        .map_err(|e| Error::internal(format!("run report: {e}")))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(Error::internal(format!(
            "report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let bytes = std::fs::metadata(&file)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    Ok((secs, ru.ru_maxrss as f64 / 1024.0, bytes))
}

/// Two runs: the first reads from a cold cache, the second as a re-run of the report does.
fn report_twice(
    name: &str,
    url: &str,
    contract: &std::path::Path,
    data: &std::path::Path,
) -> Result<()> {
    for run in ["first", "second"] {
        let (secs, rss, bytes) = report_child(url, contract, data)?;
        println!(
            "{name:<9} report ({run} run): {secs:.2} s, peak RSS {rss:.0} MB, JSON {:.1} MB",
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

pub async fn run(
    devices: u64,
    per: u32,
    pg: Option<&str>,
    history_months: u32,
) -> Result<ExitCode> {
    let dir = tempfile_dir()?;
    let contract = dir.join("example-98.toml");
    std::fs::write(&contract, include_str!("../../contracts/example-98.toml"))
        .map_err(|e| Error::invalid(e.to_string()))?;
    let tz =
        jiff::tz::TimeZone::get("Asia/Shanghai").map_err(|e| Error::internal(e.to_string()))?;
    let p = Period::month(
        MONTH.parse::<Month>().map_err(Error::internal)?,
        tz,
        "Asia/Shanghai",
    );
    println!("bench report: {devices} channels × {per} spans, month {MONTH}, contract example-98");

    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    if history_months == 0 || pg.is_none() {
        fill(&sqlite, &dir, devices, per, &p, 0).await?;
        report_twice("sqlite", &sqlite, &contract, &dir)?;
    }

    if let Some(base) = pg {
        let db = super::bench::ScratchDb::create(base).await?;
        let r = async {
            fill(&db.url, &dir, devices, per, &p, history_months).await?;
            report_twice("postgres", &db.url, &contract, &dir)
        }
        .await;
        if std::env::var_os("CAMWATCH_BENCH_KEEP").is_some() {
            println!("kept {}", db.url);
        } else {
            db.drop_it().await;
        }
        r?;
    }
    if std::env::var_os("CAMWATCH_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}
