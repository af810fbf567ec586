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

/// Migrations whose comments were reworded after they were released: (the file's text as
/// embedded, the SHA-384 checksum of its text as released). sqlx refuses a database whose
/// applied migration's checksum differs from the binary's, so such a migration keeps its
/// released checksum; a test checks that its statements (the text without comments and blank
/// lines) are the released ones.
const REWORDED: &[(&str, &str)] = &[
    // 0001's comments cited a design document outside the repository.
    (
        SQLITE[0].1,
        "394a4f15c97a19b176cec070cf49e381d384c7b242c2ea5a2a511218040613fb02bd592ebd88abe2e8d779149566f093",
    ),
    (
        POSTGRES[0].1,
        "cd5a645d5a1e11c538225159f8f9ec9c7d847f91eb042d1ad91aaeabe422aaea870af9397648e7ef66f96f193fd98926",
    ),
];

/// The migrator of `files`, as `migrate!` would make it of their directory, but for the
/// `REWORDED` migrations' released checksums.
pub(crate) fn migrator(files: &[(&'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|(name, sql)| {
                let mut m = migration(name, sql);
                if let Some((_, released)) = REWORDED.iter().find(|(text, _)| *text == *sql) {
                    m.checksum = Cow::Owned(unhex(released));
                }
                m
            })
            .collect(),
    )
}

/// The PostgreSQL schema as it stood before migration `version`: the embedded migrations
/// below it, as a binary of that time applied them. For upgrade tests, which build an older
/// database and open it with this binary.
pub fn postgres_before(version: i64) -> Migrator {
    let mut m = migrator(POSTGRES);
    m.migrations = m
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    m
}

/// The bytes of a released checksum.
fn unhex(checksum: &str) -> Vec<u8> {
    hex::decode(checksum).expect("a hexadecimal checksum")
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
        let theirs: Vec<_> = theirs
            .iter()
            .zip(files)
            .map(|(m, (_, sql))| {
                let mut k = key(m);
                // A reworded migration: its released checksum, not its text's.
                if let Some((_, released)) = REWORDED.iter().find(|(t, _)| *t == *sql) {
                    k.3 = unhex(released);
                }
                k
            })
            .collect();
        let ours: Vec<_> = ours.iter().map(key).collect();
        assert_eq!(ours, theirs);
    }

    /// The text without comments and blank lines: what a reworded migration must keep.
    fn statements(sql: &str) -> String {
        sql.lines()
            .map(|l| l.split_once("--").map_or(l, |(code, _)| code).trim_end())
            .filter(|l| !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// A reworded migration's statements are the released ones (their SHA-384 as released,
    /// beside the checksum of the whole released text): only its comments changed.
    #[test]
    fn reworded_migrations_changed_only_their_comments() {
        use sha2::{Digest, Sha384};
        let released_statements = [
            "95249a02bf923e170f2cd879687d4bce74e765d4f3c0e194d1d1864d9c66355e69067d57546bad7f72d7e5228a5a8213",
            "f42da616e122070e10f42ea59d59dece9e3d931c0e120e46935e5844636afec21ac6f4885b21324a7ffc93b3898068b0",
        ];
        assert_eq!(REWORDED.len(), released_statements.len());
        for ((text, released), want) in REWORDED.iter().zip(released_statements) {
            let got: String = Sha384::digest(statements(text).as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, want, "a reworded migration's statements changed");
            assert_eq!(unhex(released).len(), 48);
        }
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
