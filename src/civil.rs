//! Calendar arithmetic shared by whatever reads a date: days since 1970 of a civil date, and
//! RFC 3339 timestamps (k6's results, `--start-at`). No allocation: k6's reader calls it per point.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the Unix epoch of an RFC 3339 timestamp: `2026-12-05T15:00:00Z`,
/// `2026-12-05T15:00:00.250Z`, `2026-12-05T16:00:00+01:00` (fractions past microseconds are
/// dropped); None for anything else.
pub fn parse_rfc3339_us(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for k in 0..6 {
            let digit = if k < digits { i64::from(b[i + 1 + k] - b'0') } else { 0 };
            frac_us = frac_us * 10 + digit;
        }
        i += 1 + digits;
    }
    let offset_s = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    Some(secs * 1_000_000 + frac_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_us("2026-11-22T17:46:32Z"), Some(1_795_369_592_000_000));
        assert_eq!(parse_rfc3339_us("2026-11-22T18:46:32+01:00"), Some(1_795_369_592_000_000));
        assert_eq!(parse_rfc3339_us("2026-12-05T06:21:26.458033213Z"), Some(1_796_451_686_458_033));
        assert_eq!(parse_rfc3339_us("2026-12-05T07:21:26.5+01:00"), Some(1_796_451_686_500_000));
        for bad in ["2026-11-22", "2026-11-22T17:46:32", "2026-13-22T17:46:32Z", "2026-11-22T17:46:32.Z", "tomorrow"] {
            assert_eq!(parse_rfc3339_us(bad), None, "{bad}");
        }
    }
}
