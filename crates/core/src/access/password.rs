//! The password rule. Chinese public-security systems (and MLPS 2.0, 等保 2.0) require
//! passwords of at least 8 characters mixing upper case, lower case, digits and symbols; we
//! also refuse a password containing the user name and one too long to hash cheaply.
//!
//! The rule says *every* problem at once, so a form can mark them all. Letters, digits and
//! symbols are ASCII classes: a Chinese character counts towards the length but towards no
//! class (an input method is not something to rely on when typing a password at a camera site).

use serde::{Deserialize, Serialize};

/// One way a password fails the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum PasswordProblem {
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    NoUpper,
    NoLower,
    NoDigit,
    /// No ASCII punctuation (`!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~`).
    NoSymbol,
    /// Contains the user name (compared ignoring case).
    ContainsName,
}

impl std::fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort { min } => write!(f, "at least {min} characters"),
            Self::TooLong { max } => write!(f, "at most {max} characters"),
            Self::NoUpper => f.write_str("an upper-case letter"),
            Self::NoLower => f.write_str("a lower-case letter"),
            Self::NoDigit => f.write_str("a digit"),
            Self::NoSymbol => f.write_str("a symbol such as ! # % or -"),
            Self::ContainsName => f.write_str("not containing the user name"),
        }
    }
}

/// The rule's parameters; `Default` is the public-security rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRule {
    /// Characters (Unicode scalar values).
    pub min_chars: usize,
    /// Bounds the work argon2 is given by one request.
    pub max_chars: usize,
}

impl Default for PasswordRule {
    fn default() -> Self {
        Self {
            min_chars: 8,
            max_chars: 128,
        }
    }
}

impl PasswordRule {
    /// Every problem of `password` for user `name`, in a fixed order; empty when it passes.
    pub fn problems(&self, password: &str, name: &str) -> Vec<PasswordProblem> {
        use PasswordProblem as P;
        let n = password.chars().count();
        let mut out = Vec::new();
        if n < self.min_chars {
            out.push(P::TooShort {
                min: self.min_chars,
            });
        }
        if n > self.max_chars {
            out.push(P::TooLong {
                max: self.max_chars,
            });
        }
        let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
        if !has(char::is_ascii_uppercase) {
            out.push(P::NoUpper);
        }
        if !has(char::is_ascii_lowercase) {
            out.push(P::NoLower);
        }
        if !has(char::is_ascii_digit) {
            out.push(P::NoDigit);
        }
        if !has(char::is_ascii_punctuation) {
            out.push(P::NoSymbol);
        }
        let name = name.trim().to_lowercase();
        if !name.is_empty() && password.to_lowercase().contains(&name) {
            out.push(P::ContainsName);
        }
        out
    }

    /// `Ok` when `password` passes; else one sentence listing what it lacks.
    pub fn check(&self, password: &str, name: &str) -> Result<(), String> {
        let p = self.problems(password, name);
        if p.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = p.iter().map(ToString::to_string).collect();
        Err(format!("the password needs {}", parts.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordProblem as P;
    use proptest::prelude::*;

    fn problems(p: &str) -> Vec<PasswordProblem> {
        PasswordRule::default().problems(p, "zhangsan")
    }

    #[test]
    fn a_good_password_passes() {
        assert_eq!(problems("Camw4tch!"), vec![]);
        assert_eq!(problems("aB3#aB3#"), vec![], "exactly 8");
        assert!(
            PasswordRule::default()
                .check("Camw4tch!", "zhangsan")
                .is_ok()
        );
    }

    #[test]
    fn each_missing_part_is_named() {
        assert_eq!(problems("camw4tch!"), vec![P::NoUpper]);
        assert_eq!(problems("CAMW4TCH!"), vec![P::NoLower]);
        assert_eq!(problems("Camwatch!"), vec![P::NoDigit]);
        assert_eq!(problems("Camw4tchX"), vec![P::NoSymbol]);
        assert_eq!(problems("aB3#aB3"), vec![P::TooShort { min: 8 }]);
        assert_eq!(
            problems(""),
            vec![
                P::TooShort { min: 8 },
                P::NoUpper,
                P::NoLower,
                P::NoDigit,
                P::NoSymbol
            ]
        );
        assert_eq!(
            problems(&format!("aB3#{}", "x".repeat(125))),
            vec![P::TooLong { max: 128 }]
        );
    }

    #[test]
    fn the_user_name_is_refused_whatever_its_case() {
        assert_eq!(problems("ZhangSan#1"), vec![P::ContainsName]);
        assert_eq!(
            PasswordRule::default().problems("Admin#2026", "admin"),
            vec![P::ContainsName]
        );
    }

    #[test]
    fn chinese_characters_count_for_length_only() {
        assert_eq!(
            problems("密码aB3#"),
            vec![P::TooShort { min: 8 }],
            "6 characters"
        );
        assert_eq!(problems("监控密码aB3#"), vec![]);
        assert_eq!(
            problems("监控密码监控密码"),
            vec![P::NoUpper, P::NoLower, P::NoDigit, P::NoSymbol]
        );
        assert_eq!(
            problems("Aa1＃aaaa"),
            vec![P::NoSymbol],
            "a full-width ＃ is not ASCII"
        );
    }

    #[test]
    fn the_message_lists_everything() {
        assert_eq!(
            PasswordRule::default().check("abc", "x").unwrap_err(),
            "the password needs at least 8 characters, an upper-case letter, a digit, \
             a symbol such as ! # % or -"
        );
    }

    proptest! {
        /// The rule passes exactly when every class is present, the length fits and the name
        /// is absent: checked against a second, naive formulation.
        #[test]
        fn agrees_with_a_naive_rule(p in "[a-zA-Z0-9!#%\\-中 ]{0,20}") {
            let got = PasswordRule::default().problems(&p, "zhangsan").is_empty();
            let want = p.chars().count() >= 8
                && p.chars().any(|c| c.is_ascii_uppercase())
                && p.chars().any(|c| c.is_ascii_lowercase())
                && p.chars().any(|c| c.is_ascii_digit())
                && p.chars().any(|c| "!#%-".contains(c))
                && !p.to_lowercase().contains("zhangsan");
            prop_assert_eq!(got, want);
        }
    }
}
