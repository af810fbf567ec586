//! SQLite backend: the embedded default, one file next to the config, good to ~50k channels.
//!
//! WAL mode so report queries never block the monitor's writes; `synchronous = NORMAL` because in
//! WAL mode it loses at most the last transactions on power loss, never consistency, and the
//! monitor re-observes within one probe interval anyway.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::sql_store;
use crate::error::{Error, Result};
use crate::secret::SecretKey;

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    key: SecretKey,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and migrates it.
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::invalid(format!("database URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(false)
            // Rows cross from SQLite's worker thread to the async side through this channel; the
            // default (50) costs a thread wake-up every few rows on month-long span scans.
            .row_buffer_size(4096);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable("migrating the SQLite database", e))?;
        Ok(Self { pool, key })
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, "sqlite");
