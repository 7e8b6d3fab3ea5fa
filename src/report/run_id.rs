//! The run folder's name and the dates reports print: time, environment and git short sha, in UTC.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Error;

/// Run folder name: time, environment and git short sha (when in a git tree).
pub fn new(env: Option<&str>, sha: Option<&str>) -> String {
    let (date, time) = civil(unix_now());
    let mut id = format!("{date}_{time}");
    for part in [env, sha].into_iter().flatten() {
        id.push('_');
        id.push_str(part);
    }
    id
}

/// Creates the run folder `<root>/<id>`, or, when another run already has that name (two runs
/// started in the same second), `<id>-2`, `<id>-3`, ...: creation is exclusive (`create_dir`), so
/// two runs never share a folder. Returns the id used and the folder.
pub fn create_dir(root: &Path, id: &str) -> Result<(String, PathBuf), Error> {
    for n in 1u32.. {
        let unique = if n == 1 { id.to_string() } else { format!("{id}-{n}") };
        let dir = root.join(&unique);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((unique, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    unreachable!("some suffix is free")
}

/// The short sha of the working tree's `HEAD`, when `suite` runs in a git tree.
pub fn git_short_sha() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !sha.is_empty()).then_some(sha)
}

/// The current Unix time, seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `YYYYmmdd` and `HHMMSS` (UTC) of a Unix time.
fn civil(secs: u64) -> (String, String) {
    let (y, m, d, hh, mm, ss) = date_time(secs);
    (format!("{y:04}{m:02}{d:02}"), format!("{hh:02}{mm:02}{ss:02}"))
}

/// Date and time (UTC) of a Unix time: year, month, day, hour, minute, second.
fn date_time(secs: u64) -> (i64, u64, u64, u64, u64, u64) {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The Unix time (seconds, with fractions) of an RFC 3339 timestamp such as
/// `2026-12-05T15:00:00Z` ([`crate::civil::parse_rfc3339_us`]).
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    crate::civil::parse_rfc3339_us(text).map(|us| us as f64 / 1e6)
}

/// `2026-11-22 17:46:32 UTC`; empty for an unknown time (0).
pub fn utc_text(secs: u64) -> String {
    if secs == 0 {
        return String::new();
    }
    let (y, m, d, hh, mm, ss) = date_time(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// `2026-11-22T17:46:32Z`: a Unix time as RFC 3339, in UTC.
pub fn rfc3339(secs: u64) -> String {
    let (y, m, d, hh, mm, ss) = date_time(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(rfc3339(1_795_369_592), "2026-11-22T17:46:32Z");
        assert_eq!(civil(0), ("19700101".to_string(), "000000".to_string()));
        assert_eq!(civil(1_795_369_592), ("20261122".to_string(), "174632".to_string()));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("2026-11-22T17:46:32Z"), Some(1_795_369_592.0));
        assert_eq!(parse_rfc3339("2026-11-22T18:46:32+01:00"), Some(1_795_369_592.0));
        assert_eq!(parse_rfc3339("2026-11-22T17:46:32.25Z"), Some(1_795_369_592.25));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        for bad in ["2026-11-22", "2026-11-22T17:46:32", "2026-13-22T17:46:32Z", "2026-11-22T17:46:32.Z", "tomorrow"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn run_folders_are_never_shared() {
        let root = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..3).map(|_| create_dir(root.path(), "20261122_174632").unwrap().0).collect();
        assert_eq!(ids, ["20261122_174632", "20261122_174632-2", "20261122_174632-3"]);
        assert!(root.path().join("20261122_174632-3").is_dir());
    }
}
