//! The exit statuses of `camwatch`, in one place (the README lists them). Scripts and systemd
//! branch on these, so a number never changes meaning.

use std::process::ExitCode;

use camwatch_core::error::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Exit {
    /// Done as asked.
    Success = 0,
    /// The command failed: a bad argument or file, a missing record, the database unavailable,
    /// or a bug (the message says which).
    Failed = 1,
    /// The command line itself is wrong (clap's usage error).
    Usage = 2,
    /// An import rejected some rows (the good ones were imported unless `--strict`).
    RowsRejected = 3,
    /// `probe`: the target is down (the outcome says why).
    TargetDown = 4,
    /// `bench`: a measured figure is outside its bar.
    OutsideBar = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status of a command that failed with an error of `kind`.
    pub fn of_error(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidArgument
            | ErrorKind::NotFound
            | ErrorKind::Conflict
            | ErrorKind::Unavailable
            | ErrorKind::Internal => Self::Failed,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    /// Each status has its own number, and the numbers scripts rely on do not move.
    #[test]
    fn statuses_are_distinct_and_stable() {
        let codes: Vec<u8> = Exit::VARIANTS.iter().map(|e| e.code()).collect();
        let mut dedup = codes.clone();
        dedup.dedup();
        assert_eq!(codes, dedup);
        assert_eq!(
            codes,
            [0, 1, 2, 3, 4, 5],
            "documented in the README: change both together"
        );
    }
}
