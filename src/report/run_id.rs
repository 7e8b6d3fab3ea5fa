//! The run folder's name and the dates reports print: time, environment and git short sha, in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// `2026-11-22 17:46:32 UTC`; empty for an unknown time (0).
pub fn utc_text(secs: u64) -> String {
    if secs == 0 {
        return String::new();
    }
    let (y, m, d, hh, mm, ss) = date_time(secs);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), ("19700101".to_string(), "000000".to_string()));
        assert_eq!(civil(1_795_369_592), ("20261122".to_string(), "174632".to_string()));
    }
}
