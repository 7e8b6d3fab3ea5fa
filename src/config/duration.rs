//! Taurus time values (`dehumanize_time`): a sum of `<number><unit>` groups with units
//! `d h m s ms` (any case), bare numbers are seconds, spaces are ignored and `inf` is infinite.

/// Why a time value could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{text}` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`")]
pub struct DurationError {
    /// The text that was given.
    pub text: String,
}

/// Parses a Taurus time value into seconds.
pub fn parse_secs(text: &str) -> Result<f64, DurationError> {
    let err = || DurationError { text: text.to_string() };
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
}
