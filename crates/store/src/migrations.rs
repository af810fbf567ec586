//! The schema's migrations (`migrations/sqlite`, `migrations/postgres`), embedded in the binary
//! and run by sqlx's migrator at connect.
//!
//! sqlx's `migrate!` macro embeds them too, but only with sqlx's `macros` feature, which
//! builds a second copy of sqlx's SQLite and PostgreSQL drivers, and of SQLite's C source, for
//! the compiler's host (the proc macro links them): about a tenth of a clean build's work,
//! in `clippy` and in the test build alike (docs/performance.md, "Build time"). Here each file is
//! `include_str!`-ed and made into a `Migration` as sqlx's own directory reader makes it:
//! version and description from the file name, the checksum over the text. A database
//! migrated by either carries the same versions and checksums (tested against sqlx's reader
//! of the same directory), and a migration file missing from the list below fails the tests.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration is written for both backends (a schema change is made in each), so one list
/// of file names embeds both directories: `SQLITE` and `POSTGRES`, (file name, text) each.
macro_rules! embed {
    ($($file:literal),* $(,)?) => {
        /// The SQLite schema's migrations: (file name, text).
        pub(crate) const SQLITE: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../migrations/sqlite/", $file)))),*];
        /// The PostgreSQL schema's migrations: (file name, text).
        pub(crate) const POSTGRES: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../migrations/postgres/", $file)))),*];
    };
}

embed!(
    "0001_init.sql",
    "0002_monitor_instance.sql",
    "0003_work_orders.sql",
    "0004_users.sql",
    "0005_gb28181.sql",
    "0006_patrol.sql",
    "0008_nodes.sql",
    "0010_duty_lease.sql",
    "0012_span_followers.sql",
    "0013_gb_recording.sql",
    "0014_monthly_partitions.sql",
    "0015_gb_sip_facts.sql",
);

/// The migrator of `files`, as `migrate!` would make it of their directory.
pub(crate) fn migrator(files: &[(&'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|(name, sql)| migration(name, sql))
            .collect(),
    )
}

/// `<version>_<description>.sql`, as sqlx reads a migration directory: the description's
/// underscores are spaces; a text starting `-- no-transaction` runs outside a transaction.
fn migration(name: &'static str, sql: &'static str) -> Migration {
    let (version, rest) = name
        .split_once('_')
        .unwrap_or_else(|| panic!("migration file {name} is not <version>_<name>.sql"));
    let version: i64 = version
        .parse()
        .unwrap_or_else(|_| panic!("migration file {name}: the version is not a number"));
    let description = rest
        .strip_suffix(".sql")
        .unwrap_or_else(|| panic!("migration file {name} does not end in .sql"))
        .replace('_', " ");
    Migration::new(
        version,
        Cow::Owned(description),
        MigrationType::Simple,
        sql.into_sql_str(),
        sql.starts_with("-- no-transaction"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(backend: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(backend)
    }

    /// Every file of the directory is listed, in order, and read as sqlx reads the directory.
    async fn same_as_sqlx(backend: &str, files: &[(&'static str, &'static str)]) {
        let mut names: Vec<String> = std::fs::read_dir(dir(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        let listed: Vec<&str> = files.iter().map(|f| f.0).collect();
        assert_eq!(
            listed, names,
            "migrations/{backend} and the list here differ"
        );
        let theirs = Migrator::new(dir(backend)).await.unwrap();
        let ours = migrator(files);
        let key = |m: &Migration| {
            (
                m.version,
                m.description.to_string(),
                m.migration_type,
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let theirs: Vec<_> = theirs.iter().map(key).collect();
        let ours: Vec<_> = ours.iter().map(key).collect();
        assert_eq!(ours, theirs);
    }

    #[tokio::test]
    async fn sqlite_migrations_are_sqlx_reading_of_their_directory() {
        same_as_sqlx("sqlite", SQLITE).await;
    }

    #[tokio::test]
    async fn postgres_migrations_are_sqlx_reading_of_their_directory() {
        same_as_sqlx("postgres", POSTGRES).await;
    }
}
