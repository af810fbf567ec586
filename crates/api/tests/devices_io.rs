//! The register through the API beyond reading one page: exports of the filtered list (scope,
//! formula safety, formats).

mod common;

use camwatch_core::registry::{Device, DeviceCode};
use common::*;

/// The rows of a CSV export (BOM removed), header first.
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a UTF-8 BOM");
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn an_export_holds_exactly_the_callers_filtered_rows() {
    let e = env().await;
    for (who, query, want) in [
        ("admin1", "", vec![A1, A2, B1, B2]),
        ("alpha", "", vec![A1, A2, B2]),
        ("beta", "", vec![B1]),
        ("shushan", "", vec![A1, A2]),
        ("audit", "&status=offline", vec![A1]),
        ("admin1", "&region=340103&sort=name", vec![B1, B2]),
        // A contractor asking for another's devices gets an empty file, not an error.
        ("alpha", "&maintainer=BetaCo", vec![]),
    ] {
        let auth = e.login(who).await;
        let (status, headers, body) = e
            .fetch(&format!("/devices/export?format=csv{query}"), &auth)
            .await;
        assert_eq!(
            status,
            200,
            "{who}{query}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment;")
        );
        let rows = csv_rows(&body);
        let mut got: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        let mut want = want.clone();
        if !query.contains("sort=name") {
            got.sort();
            want.sort();
        }
        assert_eq!(got, want, "{who}{query}");
    }
    // The offline camera's row says why and since when.
    let admin = e.login("admin1").await;
    let (_, _, body) = e.fetch("/devices/export?status=offline", &admin).await;
    let rows = csv_rows(&body);
    assert_eq!(rows[0][6], "offline");
    assert_eq!(rows[0][7], "2026-12-01T07:00:00Z");
    assert!(!rows[0][8].is_empty(), "a cause: {:?}", rows[0]);
}

#[tokio::test]
async fn text_a_user_typed_never_runs_as_a_formula() {
    let e = env().await;
    let mut d = Device::new(
        "34010400001320000077".parse::<DeviceCode>().unwrap(),
        "=HYPERLINK(\"http://x.example/\",\"南门\")",
    );
    d.address = Some("+86 551 1234".into());
    d.maintainer = Some("@SUM(A1:A9)".into());
    e.store.upsert_devices(&[d]).await.unwrap();
    let admin = e.login("admin1").await;
    let (status, _, body) = e.fetch("/devices/export?q=hyperlink", &admin).await;
    assert_eq!(status, 200);
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0][1].starts_with("'="), "{:?}", rows[0]);
    assert!(rows[0][5].starts_with("'+"), "{:?}", rows[0]);
    assert!(rows[0][4].starts_with("'@"), "{:?}", rows[0]);
}

#[tokio::test]
async fn an_xlsx_export_is_a_workbook_and_bad_formats_are_named() {
    let e = env().await;
    let admin = e.login("admin1").await;
    let (status, headers, body) = e.fetch("/devices/export?format=xlsx", &admin).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    assert_eq!(&body[..4], b"PK\x03\x04", "a ZIP container");
    let r = e.get("/devices/export?format=pdf", &admin).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["field"], "format");
    let r = e.get("/devices/export?limit=5", &admin).await;
    assert_eq!(r.status, 400, "paging parameters are not export parameters");
    let r = e.get("/devices/export", &Auth::None).await;
    assert_eq!(r.status, 401);
}
