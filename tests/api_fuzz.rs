//! A schema-driven fuzzer not written by us, Schemathesis (PyPI, in a venv this test creates
//! once under the target directory), against every operation of the OpenAPI document that
//! `camwatch serve` publishes, signed in as an admin with a full-access API token.
//!
//! Checks: no 5xx; every status code, content type, header and body as the document declares;
//! invalid input (wrong types, unknown parameters, missing fields) refused; deleted resources
//! gone; the stateful phase chains operations. The event stream is left out (it never ends;
//! `crates/api/tests/events.rs` tests it). Two checks are left out, for reasons the document
//! cannot express: `positive_data_acceptance` (a schema-valid device code or record can still
//! be refused by the register's rules: province digits, coordinates, known parents) and
//! `ignored_auth` (the token is passed as a fixed header, so the fuzzer's "invalid" cookie
//! comes with a valid token; authentication is tested by the API crate's own tests). The run
//! is seeded, so a failure is reproducible.

mod common;
mod serve;

use camwatch_core::registry::export::to_csv;
use serve::{add_user, config, run, start, stop};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_or_schema_violation() {
    if !common::python_venv() {
        return;
    }
    let st = tokio::task::spawn_blocking(|| {
        common::venv("schemathesis-venv", SCHEMATHESIS).join("bin/st")
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A contract, so reports and the fleet's figures are computed, not 503.
    config(
        dir,
        &format!(
            "[contract]\nfile = \"{}/contracts/example-98.toml\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    );
    // A register whose cameras answer nowhere: the monitor marks them offline as it runs, so
    // the fuzzer meets devices of several statuses and the work-order engine at work.
    let register = camwatch_core::registry::generate::generate(30, 11);
    std::fs::write(dir.join("register.csv"), to_csv(&register, true)).unwrap();
    run(
        dir,
        &[
            "device",
            "import",
            dir.join("register.csv").to_str().unwrap(),
        ],
        "",
    );
    add_user(dir, "fuzz", "admin", &[], "Camw4tch!", true);
    let token = run(
        dir,
        &[
            "user",
            "token",
            "issue",
            "fuzz",
            "--name",
            "schemathesis",
            "--access",
            "full",
        ],
        "",
    );
    let (serve, addr) = start(dir).await;
    let base = format!("http://{addr}");
    let out = tokio::task::spawn_blocking({
        let (st, token, base) = (st.clone(), token.trim().to_string(), base.clone());
        let work = dir.to_path_buf();
        move || {
            std::process::Command::new(st)
                .args([
                    "run",
                    &format!("{base}/api/v1/openapi.json"),
                    "--url",
                    &base,
                ])
                .args(["-H", &format!("Authorization: Bearer {token}")])
                .args(["--checks", "all"])
                .args(["--exclude-checks", "positive_data_acceptance,ignored_auth"])
                // The event stream never ends: it has tests of its own.
                .args(["--exclude-path", "/api/v1/events"])
                .args(["--max-examples", "40", "--seed", "20261204", "--no-color"])
                // Its cache and reports go to the temp dir, not the work tree.
                .current_dir(&work)
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The server survived it and stops cleanly.
    stop(serve, dir);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}"
    );
    // Every operation of the document was exercised (the summary's "Selected: N/N" and
    // "Tested: N").
    let count = |label: &str| -> Option<String> {
        let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
        Some(line.split(':').nth(1)?.trim().to_string())
    };
    let selected = count("Selected").expect("a summary");
    let total = selected.split('/').nth(1).unwrap().to_string();
    let all: u32 = total.parse().unwrap();
    assert_eq!(
        selected,
        format!("{}/{total}", all - 1),
        "all but the event stream: {report}"
    );
    assert_eq!(count("Tested"), Some((all - 1).to_string()), "{report}");
    assert!(all >= 15, "{report}");
}
