//! PostgreSQL backend: for fleets beyond ~50k channels and for several prober nodes.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::sql::sql_store;
use crate::error::{Error, Result};
use crate::secret::SecretKey;

pub struct PostgresStore {
    pool: sqlx::PgPool,
    key: SecretKey,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn connect(url: &str, key: SecretKey) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::unavailable("migrating the PostgreSQL database", e))?;
        Ok(Self { pool, key })
    }
}

sql_store!(PostgresStore, sqlx::Postgres, "postgres");
