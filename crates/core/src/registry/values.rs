//! Parsers for the values register files carry: money, coordinates, dates, enumerations.
//! Each returns a message naming what was wrong; none panics on any input (property-tested).

use jiff::civil::Date;

/// Yuan as written in a sheet (`80`, `80.5`, `80.50`, `￥80.00`, `80元`, `1,200.00`) → fen, exactly.
pub fn parse_money_fen(s: &str) -> Result<i64, String> {
    let t = s
        .trim()
        .trim_start_matches(['￥', '¥'])
        .trim_end_matches('元')
        .replace(',', "");
    let t = t.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if neg {
        return Err("a fee cannot be negative".into());
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() {
        return Err("not an amount of money".into());
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err("not an amount of money".into());
    }
    if frac.len() > 2 {
        return Err("more than 2 decimal places (amounts are in yuan, to the fen)".into());
    }
    if int.len() > 12 {
        return Err("amount too large".into());
    }
    let yuan: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| "not an amount of money")?
    };
    let fen: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().unwrap_or(0) * 10,
        _ => frac.parse::<i64>().unwrap_or(0),
    };
    Ok(yuan * 100 + fen)
}

/// Fen → `"80.00"`.
pub fn format_money(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen.rem_euclid(100))
}

/// Decimal degrees or 度分秒 (`117°12'30.5"E`, `117度12分30.5秒`, `N31°49'`) → decimal degrees.
/// `is_lon` selects the range check (±180 for longitude, ±90 for latitude).
pub fn parse_coordinate(s: &str, is_lon: bool) -> Result<f64, String> {
    let t = s.trim();
    let (limit, what) = if is_lon {
        (180.0, "longitude")
    } else {
        (90.0, "latitude")
    };
    let mut sign = 1.0;
    let mut body = String::new();
    for c in t.chars() {
        match c {
            'W' | 'w' | 'S' | 's' | '西' | '南' => sign = -1.0,
            'E' | 'e' | 'N' | 'n' | '东' | '北' => {}
            '°' | '度' | '\'' | '′' | '分' | '"' | '″' | '秒' | ' ' => body.push(' '),
            c => body.push(c),
        }
    }
    let parts: Vec<&str> = body.split_whitespace().collect();
    let nums: Vec<f64> = parts
        .iter()
        .map(|p| p.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("not a {what} (decimal degrees or 度分秒)"))?;
    let deg = match nums.as_slice() {
        [d] => *d,
        [d, m] if (0.0..60.0).contains(m) => d.abs() + m / 60.0,
        [d, m, s] if (0.0..60.0).contains(m) && (0.0..60.0).contains(s) => {
            d.abs() + m / 60.0 + s / 3600.0
        }
        _ => return Err(format!("not a {what} (decimal degrees or 度分秒)")),
    };
    let neg_in_number = nums.first().is_some_and(|d| *d < 0.0);
    let v = if neg_in_number && nums.len() > 1 {
        -deg
    } else {
        deg
    } * sign;
    if !v.is_finite() || v.abs() > limit {
        return Err(format!("{what} out of range (±{limit})"));
    }
    Ok(v)
}

/// `2024-03-01`, `2024/3/1`, `2024.3.1`, `20240301`, `2024年3月1日`, optionally followed by a time.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let t = s.trim();
    let day = t.split([' ', 'T']).next().unwrap_or(t);
    let day = day.trim_end_matches('日');
    let parts: Vec<&str> = if day.len() == 8 && day.chars().all(|c| c.is_ascii_digit()) {
        vec![&day[0..4], &day[4..6], &day[6..8]]
    } else {
        day.split(['-', '/', '.', '年', '月']).collect()
    };
    let bad = || "not a date (expected e.g. 2024-03-01)".to_string();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let y: i16 = y.parse().map_err(|_| bad())?;
    let m: i8 = m.parse().map_err(|_| bad())?;
    let d: i8 = d.parse().map_err(|_| bad())?;
    if !(1900..=2200).contains(&y) {
        return Err(bad());
    }
    Date::new(y, m, d).map_err(|_| format!("no such date {y}-{m:02}-{d:02}"))
}

/// 摄像机类型 codes → text (GB/T 28181 Annex / 一机一档 sheets); text passes through.
pub fn camera_form(s: &str) -> String {
    match s.trim() {
        "1" => "球机".into(),
        "2" => "半球".into(),
        "3" => "固定枪机".into(),
        "4" => "遥控枪机".into(),
        "5" => "卡口枪机".into(),
        other => other.to_string(),
    }
}

/// 监控点位类型 codes → text.
pub fn point_class(s: &str) -> String {
    match s.trim() {
        "1" => "一类视频监控点".into(),
        "2" => "二类视频监控点".into(),
        "3" => "三类视频监控点".into(),
        "4" => "公安内部视频监控点".into(),
        "9" => "其他点位".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn money() {
        assert_eq!(parse_money_fen("80"), Ok(8000));
        assert_eq!(parse_money_fen("80.5"), Ok(8050));
        assert_eq!(parse_money_fen("￥1,200.05"), Ok(120_005));
        assert_eq!(parse_money_fen("80元"), Ok(8000));
        assert!(parse_money_fen("80.555").is_err());
        assert!(parse_money_fen("-3").is_err());
        assert!(parse_money_fen("abc").is_err());
        assert!(parse_money_fen("").is_err());
        assert_eq!(format_money(8050), "80.50");
    }

    #[test]
    fn coordinates() {
        assert_eq!(parse_coordinate("117.25", true), Ok(117.25));
        let dms = parse_coordinate("117°15'00\"E", true).unwrap();
        assert!((dms - 117.25).abs() < 1e-12);
        let dms = parse_coordinate("31度30分", false).unwrap();
        assert!((dms - 31.5).abs() < 1e-12);
        assert!(parse_coordinate("200", true).is_err());
        assert!(parse_coordinate("95", false).is_err());
        assert!(parse_coordinate("x", false).is_err());
        assert_eq!(parse_coordinate("33.5S", false), Ok(-33.5));
    }

    #[test]
    fn dates() {
        let want: Date = "2024-03-01".parse().unwrap();
        for s in [
            "2024-03-01",
            "2024/3/1",
            "2024.3.1",
            "20240301",
            "2024年3月1日",
            "2024-03-01 08:00:00",
        ] {
            assert_eq!(parse_date(s), Ok(want), "{s}");
        }
        assert!(parse_date("2024-02-30").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    proptest! {
        #[test]
        fn money_is_exact(yuan in 0i64..10_000_000, fen in 0i64..100) {
            let s = format!("{yuan}.{fen:02}");
            prop_assert_eq!(parse_money_fen(&s), Ok(yuan * 100 + fen));
            prop_assert_eq!(format_money(yuan * 100 + fen), s);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,24}") {
            let _ = parse_money_fen(&s);
            let _ = parse_coordinate(&s, true);
            let _ = parse_date(&s);
        }
    }
}
