//! Exact rational arithmetic for money: rates are ratios of second counts, fees are fen, and a
//! deduction multiplies them. Doing it in i128 fractions and rounding once, at the end of each
//! line, is what makes a report reproducible to the fen by an auditor with a calculator.
//!
//! Magnitudes: a fleet's second counts reach ~10^12, fee bases ~10^16 fen·s; products of three
//! such factors stay below 10^38 only because every operation reduces by the gcd.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Ratio {
    pub const ZERO: Ratio = Ratio { num: 0, den: 1 };

    pub fn new(num: i128, den: i128) -> Self {
        assert!(den != 0, "zero denominator");
        let g = gcd(num, den);
        let s = if den < 0 { -1 } else { 1 };
        Self {
            num: s * num / g,
            den: s * den / g,
        }
    }
    pub fn int(n: i128) -> Self {
        Self { num: n, den: 1 }
    }
    /// Parses a plain decimal (`98`, `0.001`, `97.5`).
    pub fn parse_decimal(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
        let (i, f) = t.split_once('.').unwrap_or((t, ""));
        let ok = |p: &str| p.chars().all(|c| c.is_ascii_digit());
        if (i.is_empty() && f.is_empty()) || !ok(i) || !ok(f) || i.len() + f.len() > 30 {
            return Err(format!("{s:?} is not a decimal number"));
        }
        let digits: i128 = format!("{i}{f}")
            .parse()
            .map_err(|_| format!("{s:?} is not a decimal number"))?;
        let r = Self::new(digits, 10i128.pow(f.len() as u32));
        Ok(if neg { Self::new(-r.num, r.den) } else { r })
    }
    pub fn plus(self, o: Self) -> Self {
        let g = gcd(self.den, o.den);
        Self::new(
            self.num * (o.den / g) + o.num * (self.den / g),
            self.den / g * o.den,
        )
    }
    pub fn minus(self, o: Self) -> Self {
        self.plus(Self {
            num: -o.num,
            den: o.den,
        })
    }
    pub fn times(self, o: Self) -> Self {
        let g1 = gcd(self.num, o.den);
        let g2 = gcd(o.num, self.den);
        Self::new(
            (self.num / g1) * (o.num / g2),
            (self.den / g2) * (o.den / g1),
        )
    }
    pub fn is_negative(self) -> bool {
        self.num < 0
    }
    pub fn floor(self) -> i128 {
        self.num.div_euclid(self.den)
    }
    pub fn ceil(self) -> i128 {
        -Self {
            num: -self.num,
            den: self.den,
        }
        .floor()
    }
    /// Nearest integer, halves away from zero.
    pub fn round_half_away(self) -> i128 {
        let twice = Self::new(self.num * 2, self.den);
        let a = twice.num.abs();
        let q = (a / twice.den + 1) / 2;
        if self.num < 0 { -q } else { q }
    }
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
    /// Decimal text with `places` digits, rounded half away from zero.
    pub fn to_decimal(self, places: u32) -> String {
        let scale = 10i128.pow(places);
        let v = self.times(Self::int(scale)).round_half_away();
        let sign = if v < 0 { "-" } else { "" };
        let v = v.abs();
        if places == 0 {
            return format!("{sign}{v}");
        }
        format!(
            "{sign}{}.{:0width$}",
            v / scale,
            v % scale,
            width = places as usize
        )
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Ratio {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.num * o.den).cmp(&(o.num * self.den))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn basics() {
        let r = Ratio::parse_decimal("0.001").unwrap();
        assert_eq!(r, Ratio::new(1, 1000));
        assert_eq!(Ratio::parse_decimal("98").unwrap(), Ratio::int(98));
        assert_eq!(Ratio::new(5, 2).round_half_away(), 3);
        assert_eq!(Ratio::new(-5, 2).round_half_away(), -3);
        assert_eq!(Ratio::new(7, 3).round_half_away(), 2);
        assert_eq!(Ratio::new(7, 3).floor(), 2);
        assert_eq!(Ratio::new(7, 3).ceil(), 3);
        assert_eq!(Ratio::new(-7, 3).floor(), -3);
        assert_eq!(Ratio::new(12345, 1000).to_decimal(2), "12.35");
        assert_eq!(Ratio::new(1, 3).to_decimal(4), "0.3333");
        assert!(Ratio::parse_decimal("1.2.3").is_err());
        assert!(Ratio::parse_decimal("").is_err());
    }

    proptest! {
        #[test]
        fn arithmetic_matches_integers(a in -10_000i128..10_000, b in 1i128..1000, c in -10_000i128..10_000, d in 1i128..1000) {
            let x = Ratio::new(a, b);
            let y = Ratio::new(c, d);
            prop_assert_eq!(x.plus(y), Ratio::new(a * d + c * b, b * d));
            prop_assert_eq!(x.times(y), Ratio::new(a * c, b * d));
            prop_assert_eq!(x.minus(x), Ratio::ZERO);
            prop_assert_eq!(x < y, a * d < c * b);
        }
    }
}
