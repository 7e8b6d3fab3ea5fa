//! Taurus time values (`dehumanize_time`): a sum of `<number><unit>` groups with units
//! `d h m s ms` (any case), bare numbers are seconds, spaces are ignored and `inf` is infinite.
//!
//! Finite values are limited to [`MAX_SECS`] either way: Taurus has no limit, but a
//! `std::time::Duration` ends near 1.8e19 s and instants overflow well before, so a typo such as
//! `99999999999999999999d` would crash the run instead of being reported.

/// The largest finite time value accepted, in seconds: 100 years (36500d), far beyond any test
/// and far below what durations and instants can hold.
pub const MAX_SECS: f64 = 36_500.0 * 86_400.0;

/// Why a time value could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", describe(text, *too_large))]
pub struct DurationError {
    /// The text that was given.
    pub text: String,
    /// Whether the text is a time value, but a larger one than [`MAX_SECS`].
    pub too_large: bool,
}

fn describe(text: &str, too_large: bool) -> String {
    // The value is echoed; a huge one is cut (the diagnostic points at all of it anyway).
    let text = match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    };
    if too_large {
        format!("`{text}`: duration too large: at most 36500d (100 years)")
    } else {
        format!("`{text}` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`")
    }
}

/// Parses a Taurus time value into seconds, at most [`MAX_SECS`] (or `inf`).
pub fn parse_secs(text: &str) -> Result<f64, DurationError> {
    let secs = dehumanize(text)?;
    let inf = secs.is_infinite()
        && text.chars().filter(|c| !c.is_whitespace()).collect::<String>().eq_ignore_ascii_case("inf");
    match inf {
        true => Ok(secs),
        false => within_limit(secs, text),
    }
}

/// `secs` if it is at most [`MAX_SECS`] either way, else the "duration too large" error naming
/// `text`; for times written as YAML numbers (`hold-for: 1.0e+30`), which skip [`parse_secs`].
pub fn within_limit(secs: f64, text: &str) -> Result<f64, DurationError> {
    match secs.abs() <= MAX_SECS {
        true => Ok(secs),
        false => Err(DurationError { text: text.to_string(), too_large: true }),
    }
}

/// Taurus's `dehumanize_time` without the limit, for numbers that are not durations but are
/// read the same way (criteria thresholds: `132000000` bytes of memory, `150ms`).
pub fn dehumanize(text: &str) -> Result<f64, DurationError> {
    let err = || DurationError { text: text.to_string(), too_large: false };
    let s: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    if s.is_empty() {
        return Err(err());
    }
    if s == "inf" {
        return Ok(f64::INFINITY);
    }
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => (-1.0, rest.to_string()),
        None => (1.0, s),
    };
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(err());
        }
        let number: f64 = s[start..i].parse().map_err(|_| err())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &s[unit_start..i] {
            "" | "s" => 1.0,
            "ms" => 0.001,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err()),
        };
        total += number * factor;
    }
    Ok(sign * total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taurus_examples() {
        assert_eq!(parse_secs("1d 2h 3m 4s").unwrap(), 93784.0);
        assert!((parse_secs("1s200ms").unwrap() - 1.2).abs() < 1e-9);
        assert_eq!(parse_secs("10").unwrap(), 10.0);
        assert_eq!(parse_secs("150MS").unwrap(), 0.15);
        assert_eq!(parse_secs("-1").unwrap(), -1.0);
        assert!(parse_secs("inf").unwrap().is_infinite());
        assert!(parse_secs("10x").is_err());
        assert!(parse_secs("").is_err());
        assert!(parse_secs("s").is_err());
    }

    #[test]
    fn huge_values_are_errors_not_overflows() {
        assert_eq!(parse_secs("36500d").unwrap(), MAX_SECS);
        assert!(within_limit(1e30, "1.0e+30").unwrap_err().too_large);
        assert!(within_limit(f64::NAN, "nan").is_err());
        assert_eq!(within_limit(-5.0, "-5"), Ok(-5.0));
        for text in ["99999999999999999999d", "36501d", "1e20", &"9".repeat(400), "-99999999999999999999d"] {
            let e = parse_secs(text).unwrap_err();
            if text != "1e20" {
                assert!(e.too_large, "{text}");
                let shown = if text.len() > 60 { format!("{}…", &text[..60]) } else { text.to_string() };
                assert_eq!(e.to_string(), format!("`{shown}`: duration too large: at most 36500d (100 years)"));
            }
        }
    }
}
