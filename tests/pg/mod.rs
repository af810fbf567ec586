//! A scratch PostgreSQL database for the integration tests that run `serve` nodes on one
//! (apart from `tests/common`, which crates' own tests include and which has no `sqlx`).

/// A new, empty database on the PostgreSQL server `CAMWATCH_TEST_PG_URL` names, as a URL;
/// `None` (the test skips, saying so) when the variable is unset.
pub async fn pg_database() -> Option<String> {
    use sqlx::Connection;
    let Ok(base) = std::env::var("CAMWATCH_TEST_PG_URL") else {
        eprintln!("CAMWATCH_TEST_PG_URL not set: PostgreSQL test skipped");
        return None;
    };
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    let name = format!("camwatch_t_{}", hex::encode(b));
    // The name is our own random hex, not user input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    Some(match base.rfind('/') {
        Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    })
}
