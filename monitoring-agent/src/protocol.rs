//! The PerfMon ServerAgent line protocol as Taurus's `ServerAgentClient` speaks it: the single definition the agent
//! and the suite's client share.
//!
//! Client → agent, one command per `\n`-terminated line (trimmed, so `\r\n` works); the command is the part before
//! the first `:` and its parameters, TAB-separated, follow it:
//!
//! ```text
//! test                          → "Yep\n"
//! interval:1                    (seconds, over 0 and at most a day; fractions are rounded up, minimum 1)
//! metrics:cpu\tmem\ttotal_workers   → one line per interval: "12.5\t40.1\t3\t\n"
//! metrics-single:cpu            → one line now
//! exit                          → the agent closes this connection
//! shutdown                      → refused unless the agent runs with --allow-shutdown
//! ```
//!
//! A value line carries every requested value followed by a TAB, then `\n`: Taurus strips the last character
//! before splitting its CSV log, so the trailing TAB is load-bearing. Values print as Python's `str()` did in the
//! MMS agent: integers without `.0` for counts and bytes, floats in shortest round-trip form otherwise. An error
//! is one line starting with `ERROR ` (Taurus logs it as an unparsable line).

use crate::metric::Metric;

/// What a client sends first to check it talks to an agent.
pub const GREETING: &str = "test\n";
/// The agent's answer to [`GREETING`] (Taurus reads exactly these 4 bytes).
pub const REPLY: &str = "Yep\n";
/// Prefix of every error line.
pub const ERROR_PREFIX: &str = "ERROR ";

/// One parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `test`: answer [`REPLY`].
    Test,
    /// `interval:N` in seconds, as sent (`NaN` when it did not parse; see [`interval_secs`]).
    Interval(f64),
    /// `metrics:a\tb…`: stream these every interval.
    Metrics(Vec<String>),
    /// `metrics-single:a\tb…`: one line now.
    MetricsSingle(Vec<String>),
    /// `exit`: close this connection.
    Exit,
    /// `shutdown`: stop the agent (only honoured with `--allow-shutdown`).
    Shutdown,
    /// Anything else, with the trimmed line.
    Unknown(String),
}

/// Parses one line (without or with its `\n`/`\r\n`). Command names are case-insensitive; metric names are not.
pub fn parse_command(line: &str) -> Command {
    let line = line.trim();
    let (name, params) = match line.split_once(':') {
        Some((name, params)) => (name.trim(), Some(params)),
        None => (line, None),
    };
    let list = |p: &str| p.split('\t').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect();
    match (name.to_ascii_lowercase().as_str(), params) {
        ("test", None) => Command::Test,
        ("exit", None) => Command::Exit,
        ("shutdown", None) => Command::Shutdown,
        ("interval", Some(p)) => Command::Interval(p.trim().parse().unwrap_or(f64::NAN)),
        ("metrics", Some(p)) => Command::Metrics(list(p)),
        ("metrics-single", Some(p)) => Command::MetricsSingle(list(p)),
        _ => Command::Unknown(line.to_string()),
    }
}

/// Longest `interval:` accepted, in seconds (a day).
pub const MAX_INTERVAL_SECS: u64 = 86_400;

/// Whole seconds for an `interval:` value: fractions round up, minimum 1 s; `None` for NaN, infinity, zero,
/// negative values and values over [`MAX_INTERVAL_SECS`] (a client asking for more has made a mistake worth an
/// error line rather than a silent day).
pub fn interval_secs(value: f64) -> Option<u64> {
    (value > 0.0 && value <= MAX_INTERVAL_SECS as f64).then(|| value.ceil().max(1.0) as u64)
}

/// One value line: each value formatted for its metric, each followed by a TAB, then `\n`. A value that is not
/// finite prints as an empty field (PerfMon's convention for a failed metric); missing values likewise.
pub fn format_values(values: &[f64], metrics: &[Metric]) -> String {
    let mut line = String::with_capacity(metrics.len() * 12 + 1);
    for (i, metric) in metrics.iter().enumerate() {
        if let Some(v) = values.get(i).copied().filter(|v| v.is_finite()) {
            if metric.is_integer() {
                push_int(&mut line, v);
            } else {
                push_py_float(&mut line, v);
            }
        }
        line.push('\t');
    }
    line.push('\n');
    line
}

/// Splits a value line the way Taurus does: drop the line end, split on TAB, drop the empty field after the
/// trailing TAB; each field parses as a float or is `None` (empty or not a number).
pub fn parse_values(line: &str) -> Vec<Option<f64>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let line = line.strip_suffix('\t').unwrap_or(line);
    if line.is_empty() {
        return Vec::new();
    }
    line.split('\t').map(|f| f.trim().parse::<f64>().ok().filter(|v| !v.is_nan())).collect()
}

/// An error line: `ERROR <message>\n`, with line breaks in the message flattened so it stays one line.
pub fn error_line(message: &str) -> String {
    format!("{ERROR_PREFIX}{}\n", message.replace(['\n', '\r'], " "))
}

fn push_int(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    // `as` saturates at the i64 range, which no count or byte total reaches.
    let _ = write!(out, "{}", v.round() as i64);
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents -4..16, else `1e+16` style.
pub(crate) fn push_py_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Python's repr, e.g. `1.25e1`, `-3e-5`.
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    out.push_str(sign);
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(v: f64) -> String {
        let mut s = String::new();
        push_py_float(&mut s, v);
        s
    }

    #[test]
    fn floats_print_like_python_str() {
        let cases = [
            (0.0, "0.0"),
            (3.0, "3.0"),
            (12.5, "12.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (22.05736894164194, "22.05736894164194"),
            (123863040.0, "123863040.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e17, "1.5e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (-2.5, "-2.5"),
            (-0.0, "-0.0"),
            (1e300, "1e+300"),
        ];
        for (v, want) in cases {
            assert_eq!(py(v), want, "{v:e}");
        }
    }

    #[test]
    fn value_lines_follow_metric_kinds() {
        let metrics: Vec<Metric> = ["cpu", "total_workers", "sum_workers_memory_rss", "avg_workers_threads"]
            .iter()
            .filter_map(|n| Metric::parse(n).ok())
            .collect();
        assert_eq!(format_values(&[12.5, 3.0, 123863040.0, 2.0], &metrics), "12.5\t3\t123863040\t2.0\t\n");
        assert_eq!(format_values(&[f64::NAN, 3.0], &metrics[..2]), "\t3\t\n");
        assert_eq!(format_values(&[], &[]), "\n");
    }

    #[test]
    fn value_lines_parse_like_taurus() {
        assert_eq!(parse_values("12.5\t3\t\n"), vec![Some(12.5), Some(3.0)]);
        assert_eq!(parse_values("1\t\t2\t\r\n"), vec![Some(1.0), None, Some(2.0)]);
        assert_eq!(parse_values("ERROR unknown metric `x`\n"), vec![None]);
        assert_eq!(parse_values("\n"), Vec::<Option<f64>>::new());
    }

    #[test]
    fn commands() {
        assert_eq!(parse_command("test\n"), Command::Test);
        assert_eq!(parse_command(" TEST \r\n"), Command::Test);
        assert_eq!(parse_command("interval:2"), Command::Interval(2.0));
        assert!(matches!(parse_command("interval:x"), Command::Interval(v) if v.is_nan()));
        assert_eq!(
            parse_command("metrics:cpu\tmemory:usedperc\tdisks:readbytes\n"),
            Command::Metrics(vec!["cpu".into(), "memory:usedperc".into(), "disks:readbytes".into()])
        );
        assert_eq!(parse_command("metrics-single:cpu\t"), Command::MetricsSingle(vec!["cpu".into()]));
        assert_eq!(parse_command("metrics:"), Command::Metrics(vec![]));
        assert_eq!(parse_command("exit"), Command::Exit);
        assert_eq!(parse_command("shutdown"), Command::Shutdown);
        assert_eq!(parse_command("exit:now"), Command::Unknown("exit:now".into()));
        assert_eq!(parse_command("udp-transmitter:h:1:cpu"), Command::Unknown("udp-transmitter:h:1:cpu".into()));
        assert_eq!(parse_command(""), Command::Unknown(String::new()));
    }

    #[test]
    fn intervals_round_up() {
        assert_eq!(interval_secs(1.0), Some(1));
        assert_eq!(interval_secs(0.2), Some(1));
        assert_eq!(interval_secs(2.5), Some(3));
        assert_eq!(interval_secs(0.0), None);
        assert_eq!(interval_secs(-1.0), None);
        assert_eq!(interval_secs(f64::NAN), None);
        assert_eq!(interval_secs(86_400.0), Some(86_400));
        // Over a day is a mistake, not a day: refused (it was clamped silently).
        assert_eq!(interval_secs(86_400.5), None);
        assert_eq!(interval_secs(1e30), None);
        assert_eq!(interval_secs(f64::INFINITY), None);
    }
}
