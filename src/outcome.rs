//! How a run ended, and the exit code for each ending. Exit codes live here and nowhere else.
//! They are Taurus's: 0 passed, 1 configuration or runtime error, 2 interrupted, 3 a criterion failed.

use std::process::ExitCode;

/// The end state of one test or of the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Every criterion passed (or there were none).
    Passed,
    /// A pass/fail criterion failed.
    CriteriaFailed,
    /// The configuration was wrong or something broke while running.
    Error,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::Error => 1,
            Outcome::Interrupted => 2,
            Outcome::CriteriaFailed => 3,
        }
    }

    /// Combines the outcomes of several tests: interrupted beats error beats failed beats passed.
    pub fn worst(self, other: Outcome) -> Outcome {
        self.max(other)
    }

    /// Word used in console grids and reports.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::CriteriaFailed => "failed",
            Outcome::Error => "error",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(o.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_taurus_codes() {
        assert_eq!(Outcome::Passed.code(), 0);
        assert_eq!(Outcome::Error.code(), 1);
        assert_eq!(Outcome::Interrupted.code(), 2);
        assert_eq!(Outcome::CriteriaFailed.code(), 3);
        assert_eq!(Outcome::CriteriaFailed.worst(Outcome::Error), Outcome::Error);
        assert_eq!(Outcome::Passed.worst(Outcome::CriteriaFailed), Outcome::CriteriaFailed);
    }
}
