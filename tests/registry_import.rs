//! The register import end to end: the real binary on a temporary SQLite database.

use std::path::Path;
use std::process::{Command, Output};

fn camwatch(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_camwatch"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("CAMWATCH_SECRET_KEY")
        .env_remove("CAMWATCH_DB")
        .env_remove("CAMWATCH_CONFIG")
        .output()
        .expect("run camwatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const HEADER: &str = "设备编码,设备名称,上级设备编码,IP地址,经度,纬度,取流地址,月运维费,纳入考核日期,用户名,密码,行政区划";

fn good_row(i: u32) -> String {
    format!(
        "340104000013200{i:05},蜀山路口{i},,127.16.{}.{},117.2{i:03},31.8,rtsp://127.16.0.1/ch{i},80.00,2026-01-01,admin,Pw-{i}-secret,340104",
        i / 200,
        i % 200 + 1
    )
}

/// 50 bad rows, each with one problem of a different kind (cycled), and the error each must give.
fn bad_rows() -> Vec<(String, &'static str)> {
    type MakeRow = fn(u32) -> String;
    let kinds: [(MakeRow, &str); 10] = [
        (
            |i| format!("3401040000132{i:06}X,坏编码,,,,,,,,,,"),
            "设备编码: device code must be digits only",
        ),
        (
            |_| "34010400001320000001,重复,,,,,,,,,,".to_string(),
            "设备编码: duplicate code, first given on line 2",
        ),
        (
            |i| format!("340104000013209{i:05},孤儿,34010400001189999999,,,,,,,,,"),
            "上级设备编码: unknown parent",
        ),
        (
            |i| format!("340104000013209{i:05},经度越界,,,190.5,31.8,,,,,,"),
            "经度: longitude out of range",
        ),
        (
            |i| format!("340104000013209{i:05},纬度越界,,,117.2,-91,,,,,,"),
            "纬度: latitude out of range",
        ),
        (
            |i| format!("340104000013209{i:05},坏地址,,,,,notaurl,,,,,"),
            "取流地址: \"notaurl\" is not an absolute URL",
        ),
        (
            |i| format!("340104000013209{i:05},带密码,,,,,rtsp://admin:hunter2@127.0.0.1/x,,,,,"),
            "取流地址: URL carries credentials",
        ),
        (
            |i| format!("340104000013209{i:05},坏IP,,300.1.1.1,,,,,,,,"),
            "IP地址: not an IP address (300.1.1.1)",
        ),
        (
            |i| format!("340104000013209{i:05},坏金额,,,,,,80.123,,,,"),
            "月运维费: more than 2 decimal places",
        ),
        (
            |i| format!("340104000013209{i:05},坏日期,,,,,,,2026-02-30,,,"),
            "纳入考核日期: no such date",
        ),
    ];
    (0..50)
        .map(|n| {
            let (make, want) = kinds[n % kinds.len()];
            (make(9000 + n as u32), want)
        })
        .collect()
}

#[test]
fn mixed_file_imports_exactly_the_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut lines = vec![HEADER.to_string()];
    let bad = bad_rows();
    let mut bad_lines = Vec::new();
    let mut b = bad.iter();
    for i in 1..=1000u32 {
        lines.push(good_row(i));
        if i % 20 == 0
            && let Some((row, want)) = b.next()
        {
            lines.push(row.clone());
            bad_lines.push((lines.len(), *want));
        }
    }
    assert_eq!(bad_lines.len(), 50);
    let file = dir.path().join("mixed.csv");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let f = file.display().to_string();

    // --strict: nothing imported, non-zero exit.
    let out = camwatch(&data, &["device", "import", &f, "--strict"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let list = camwatch(&data, &["device", "list"]);
    assert_eq!(text(&list.stdout).lines().count(), 0);

    // --dry-run: same report, nothing written.
    let out = camwatch(&data, &["device", "import", &f, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains("1000 valid, 50 rejected"),
        "{}",
        text(&out.stdout)
    );

    let out = camwatch(&data, &["device", "import", &f]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "non-zero exit when rows were rejected"
    );
    let err = text(&out.stderr);
    let err_lines: Vec<&str> = err.lines().collect();
    assert_eq!(err_lines.len(), 50, "one line per bad row:\n{err}");
    for ((line, want), got) in bad_lines.iter().zip(&err_lines) {
        let prefix = format!("{f}:{line}: ");
        assert!(
            got.starts_with(&prefix),
            "{got:?} should start with {prefix:?}"
        );
        assert!(got.contains(want), "{got:?} should contain {want:?}");
    }
    assert!(
        !err.contains("hunter2"),
        "a password in a URL must not be echoed"
    );
    assert!(
        text(&out.stdout).contains("1000 imported (1000 new"),
        "{}",
        text(&out.stdout)
    );
    let list = camwatch(&data, &["device", "list"]);
    assert_eq!(text(&list.stdout).lines().count(), 1000);

    // Passwords: not in the database file, not in a default export, not in any output.
    let mut db_bytes = std::fs::read(data.join("camwatch.db")).unwrap();
    db_bytes.extend(std::fs::read(data.join("camwatch.db-wal")).unwrap_or_default());
    assert!(
        !db_bytes
            .windows(9)
            .any(|w| w == b"-secret\0" || w.ends_with(b"Pw-1-secr"))
    );
    assert!(!String::from_utf8_lossy(&db_bytes).contains("-secret"));
    let export = camwatch(&data, &["device", "export"]);
    assert!(!text(&export.stdout).contains("-secret"));
    assert!(!text(&list.stdout).contains("-secret") && !text(&list.stderr).contains("-secret"));
    let admin = camwatch(&data, &["device", "export", "--with-passwords"]);
    assert!(
        text(&admin.stdout).contains("Pw-7-secret"),
        "explicit admin export carries them"
    );

    // Export → import changes nothing, and keeps the stored passwords.
    let exp = dir.path().join("exp.csv");
    std::fs::write(&exp, &export.stdout).unwrap();
    let out = camwatch(&data, &["device", "import", &exp.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("(0 new, 0 updated, 1000 unchanged)"),
        "{}",
        text(&out.stdout)
    );
    let again = camwatch(&data, &["device", "export", "--with-passwords"]);
    assert_eq!(text(&again.stdout), text(&admin.stdout));
}

#[test]
fn gbk_csv_with_chinese_headers_imports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let csv = "设备编码,设备名称,安装地址,所属派出所,运维单位,行政区划,补光属性,摄像机类型\n\
               34010400001320000001,蜀山区长江西路与科学大道交口,合肥市蜀山区长江西路,蜀山分局三里庵派出所,皖通信息技术有限公司,340104,红外补光,1\n\
               34010400001320000002,蜀山区望江西路东,合肥市蜀山区望江西路,蜀山分局南七派出所,皖通信息技术有限公司,340104,白光补光,3\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(csv);
    assert!(!unmappable);
    let file = dir.path().join("gbk.csv");
    std::fs::write(&file, &gbk).unwrap();
    let out = camwatch(&data, &["device", "import", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let list = camwatch(
        &data,
        &[
            "device",
            "list",
            "--json",
            "--maintainer",
            "皖通信息技术有限公司",
        ],
    );
    let rows: Vec<serde_json::Value> = text(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "蜀山区长江西路与科学大道交口");
    assert_eq!(rows[0]["police_station"], "蜀山分局三里庵派出所");
    assert_eq!(rows[1]["address"], "合肥市蜀山区望江西路");
    let export = camwatch(&data, &["device", "export"]);
    let e = text(&export.stdout);
    assert!(
        e.contains("补光属性") && e.contains("白光补光") && e.contains("固定枪机"),
        "{e}"
    );
}

#[test]
fn bad_encoding_is_reported_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (head, _, _) = encoding_rs::GBK.encode("设备编码,设备名称\n34010400001320000001,南门\n");
    let mut bytes = head.into_owned();
    bytes.extend_from_slice(b"34010400001320000002,\x81\x20\n");
    let file = dir.path().join("broken.csv");
    std::fs::write(&file, &bytes).unwrap();
    let f = file.display().to_string();
    let out = camwatch(&data, &["device", "import", &f]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("{f}:3: encoding: invalid GBK/GB18030 byte sequence")
    );
    assert!(text(&out.stdout).contains("1 imported"));
}

#[test]
fn xlsx_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let generated = dir.path().join("generated.csv");
    let out = camwatch(
        &data,
        &[
            "device",
            "generate",
            "--count",
            "300",
            "--out",
            &generated.display().to_string(),
        ],
    );
    assert!(out.status.success());
    assert!(
        camwatch(
            &data,
            &["device", "import", &generated.display().to_string()]
        )
        .status
        .success()
    );
    let x = dir.path().join("r.xlsx");
    let out = camwatch(
        &data,
        &[
            "device",
            "export",
            "--format",
            "xlsx",
            "--out",
            &x.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = camwatch(&data, &["device", "import", &x.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0 new, 0 updated"),
        "{}",
        text(&out.stdout)
    );
}

/// Excel and WPS save CSV with CRLF line ends: every error names the physical line of its row,
/// in UTF-8 with a BOM and in GBK, also after a quoted field that spans lines.
#[test]
fn crlf_file_errors_name_physical_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut lines = vec![HEADER.to_string()];
    let mut want = Vec::new();
    for i in 1..=60u32 {
        lines.push(good_row(i));
        if i % 15 == 0 {
            // A good row whose name spans two physical lines.
            lines.push(format!(
                "3401040000132008{i:04},\"两行\r\n名称{i}\",,,,,,,,,,"
            ));
            lines.push(format!("3401040000132009{i:04},坏IP,,300.1.1.{i},,,,,,,,"));
            // The quoted row took two lines: the bad row is on the next physical line.
            want.push(lines.len() + i as usize / 15);
        }
    }
    let body = lines.join("\r\n") + "\r\n";
    for (name, bytes) in [
        (
            "bom.csv",
            [b"\xEF\xBB\xBF".as_slice(), body.as_bytes()].concat(),
        ),
        ("gbk.csv", encoding_rs::GBK.encode(&body).0.into_owned()),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let f = file.display().to_string();
        let out = camwatch(&data, &["device", "import", &f, "--dry-run"]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        let got: Vec<String> = text(&out.stderr).lines().map(String::from).collect();
        let expected: Vec<String> = want
            .iter()
            .map(|l| format!("{f}:{l}: IP地址: not an IP address"))
            .collect();
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (g, e) in got.iter().zip(&expected) {
            assert!(g.starts_with(e), "{g:?} should start with {e:?}");
        }
        assert!(
            text(&out.stdout).contains("64 valid, 4 rejected"),
            "{}",
            text(&out.stdout)
        );
    }
}

/// Bounded fields: an over-long name, an over-long URL and a megabyte-long field are each one
/// row error; the other rows import.
#[test]
fn over_long_fields_are_row_errors_and_the_rest_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut lines = vec![HEADER.to_string()];
    for i in 1..=10u32 {
        lines.push(good_row(i));
    }
    lines[3] = lines[3].replacen("蜀山路口3", &"长".repeat(201), 1);
    lines[5] = lines[5].replacen("/ch5", &format!("/{}", "u".repeat(2048)), 1);
    lines[7] = lines[7].replacen("蜀山路口7", &"x".repeat(20 << 20), 1);
    let file = dir.path().join("long.csv");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let f = file.display().to_string();
    let out = camwatch(&data, &["device", "import", &f]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        vec![
            format!("{f}:4: 设备名称: too long: 201 characters, at most 200"),
            format!("{f}:6: 取流地址: too long: 2066 characters, at most 2048"),
            format!(
                "{f}:8: 设备名称: field too long: {} bytes, at most 16384 in any field",
                20 << 20
            ),
        ]
    );
    assert!(
        text(&out.stdout).contains("10 rows, 7 imported"),
        "{}",
        text(&out.stdout)
    );
}
