//! Evaluation of parsed [`Template`]s with JMeter's meaning, per request.
//!
//! - [`Globals`]: what all virtual users share: the JMeter properties (the caller merges
//!   `modules.jmeter.properties`, `scenario.properties` and `-o`), the global counters and the
//!   UTC offset `__time` formats dates in.
//! - [`Vu`]: one virtual user's state: its number (`__threadNum`), its variables and its
//!   per-user counters.
//! - [`eval`]: the string. Nested templates in arguments are evaluated first; a function with
//!   a trailing variable-name argument also stores its result in that variable; an undefined
//!   `${var}` stays as the text `${var}`, as in JMeter.
//! - [`properties_without_default`] / [`missing_properties`]: the plan-time check that every
//!   `__P`/`__property` with no default names a property that is set (the issue makes a missing
//!   one an error before load, where JMeter would use `1` for `__P` and the name for
//!   `__property`); evaluation with a missing property is an [`EvalError`] too.
//!
//! Counters follow JMeter's `IterationCounter`: each `${__counter(…)}` in the plan has its own
//! counters (one shared by all users, one per user), starting at 1. A call site is identified by
//! where its parsed arguments live in memory, so templates must be parsed once per plan and kept
//! for the run (which is also what makes evaluation cheap: nothing is re-parsed).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{SystemTime, UNIX_EPOCH};

use super::template::{Function, Segment, Template};

/// State shared by all virtual users of a run.
#[derive(Debug, Default)]
pub struct Globals {
    /// JMeter properties, for `__P` and `__property`.
    pub properties: HashMap<String, String>,
    /// Offset from UTC, in seconds, of the dates `__time` formats (JMeter uses the JVM's zone).
    pub utc_offset_secs: i64,
    /// Global counters, by call site.
    counters: RwLock<HashMap<usize, AtomicU64>>,
}

impl Globals {
    /// Globals with these properties, dates in UTC.
    pub fn new(properties: HashMap<String, String>) -> Self {
        Globals { properties, ..Default::default() }
    }

    /// The next value of the global counter of call site `key` (from 1).
    fn next_global(&self, key: usize) -> u64 {
        if let Some(c) = self.counters.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return c.fetch_add(1, Ordering::Relaxed) + 1;
        }
        let mut map = self.counters.write().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_insert_with(|| AtomicU64::new(0)).fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// One virtual user's state.
#[derive(Clone, Debug, Default)]
pub struct Vu {
    /// `__threadNum`: the user's number, from 1.
    pub thread_num: u64,
    /// The user's JMeter variables.
    pub vars: HashMap<String, String>,
    /// Per-user counters, by call site.
    counters: HashMap<usize, u64>,
}

impl Vu {
    /// User number `thread_num` (from 1) with no variables.
    pub fn new(thread_num: u64) -> Self {
        Vu { thread_num, ..Default::default() }
    }
}

/// A function that could not be evaluated, at the byte range of its `${…}` in the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    /// Where in the value.
    pub at: Range<usize>,
    /// One line, lower-case.
    pub message: String,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {}..{})", self.message, self.at.start, self.at.end)
    }
}

impl std::error::Error for EvalError {}

/// The string `template` stands for, for user `vu`.
pub fn eval(template: &Template, vu: &mut Vu, globals: &Globals) -> Result<String, EvalError> {
    match template.segments.as_slice() {
        [] => Ok(String::new()),
        [Segment::Literal(text)] => Ok(text.clone()),
        _ => {
            let mut out = String::new();
            eval_into(template, vu, globals, &mut out)?;
            Ok(out)
        }
    }
}

/// Appends the string `template` stands for to `out`.
pub fn eval_into(template: &Template, vu: &mut Vu, globals: &Globals, out: &mut String) -> Result<(), EvalError> {
    for segment in &template.segments {
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Var { name, .. } => match vu.vars.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
            },
            Segment::Call { function, args, at } => call(*function, args, at, vu, globals, out)?,
        }
    }
    Ok(())
}

/// A property named by a template that has no default, at the `${…}` of its call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeededProperty {
    /// The name, or `None` when it is computed at run time (then only evaluation can tell).
    pub name: Option<String>,
    /// Byte range of the call in the value.
    pub at: Range<usize>,
}

/// Every `__P(name)` / `__property(name[,var])` with no default in `template` (arguments
/// included), in order.
pub fn properties_without_default(template: &Template) -> Vec<NeededProperty> {
    fn visit(t: &Template, out: &mut Vec<NeededProperty>) {
        for segment in &t.segments {
            let Segment::Call { function, args, at } = segment else { continue };
            for arg in args {
                visit(arg, out);
            }
            let no_default = match function {
                Function::P => args.len() < 2,
                Function::Property => args.len() < 3,
                _ => false,
            };
            if no_default {
                if let Some(name) = args.first() {
                    out.push(NeededProperty { name: name.as_literal(), at: at.clone() });
                }
            }
        }
    }
    let mut out = Vec::new();
    visit(template, &mut out);
    out
}

/// The properties [`properties_without_default`] lists that `properties` does not set (those
/// with computed names are left to evaluation).
pub fn missing_properties(template: &Template, properties: &HashMap<String, String>) -> Vec<NeededProperty> {
    properties_without_default(template)
        .into_iter()
        .filter(|p| p.name.as_ref().is_some_and(|n| !properties.contains_key(n)))
        .collect()
}

/// Evaluates `args[i]`, or `""` when absent.
fn arg(args: &[Template], i: usize, vu: &mut Vu, globals: &Globals) -> Result<String, EvalError> {
    args.get(i).map_or(Ok(String::new()), |t| eval(t, vu, globals))
}

/// Stores `value` in the variable named by `args[i]` (trimmed, as most JMeter functions do), if
/// given and not empty.
fn store(args: &[Template], i: usize, value: &str, vu: &mut Vu, globals: &Globals) -> Result<(), EvalError> {
    store_as(args, i, true, value, vu, globals)
}

fn store_as(
    args: &[Template],
    i: usize,
    trim: bool,
    value: &str,
    vu: &mut Vu,
    globals: &Globals,
) -> Result<(), EvalError> {
    if args.len() > i {
        let name = arg(args, i, vu, globals)?;
        let name = if trim { name.trim() } else { name.as_str() };
        if !name.is_empty() {
            vu.vars.insert(name.to_string(), value.to_string());
        }
    }
    Ok(())
}

fn call(
    function: Function,
    args: &[Template],
    at: &Range<usize>,
    vu: &mut Vu,
    globals: &Globals,
    out: &mut String,
) -> Result<(), EvalError> {
    let err = |message: String| EvalError { at: at.clone(), message };
    let fname = function.name();
    let value = match function {
        Function::P | Function::Property => {
            let name = arg(args, 0, vu, globals)?;
            let default_at = if function == Function::P { 1 } else { 2 };
            let value = match globals.properties.get(&name) {
                Some(v) => v.clone(),
                None if args.len() > default_at => arg(args, default_at, vu, globals)?,
                None => {
                    return Err(err(format!("property `{name}` of `{fname}` is not set and has no default")));
                }
            };
            if function == Function::Property {
                // `__property` does not trim the variable name.
                store_as(args, 1, false, &value, vu, globals)?;
            }
            value
        }
        Function::Counter => {
            // JMeter's `IterationCounter`: `Boolean.parseBoolean`, so only `true` in any case is
            // per user; each call advances only the counter it reads.
            let per_user = arg(args, 0, vu, globals)?.eq_ignore_ascii_case("true");
            let key = args.as_ptr() as usize;
            let n = if per_user {
                let c = vu.counters.entry(key).or_insert(0);
                *c += 1;
                *c
            } else {
                globals.next_global(key)
            };
            let value = n.to_string();
            store(args, 1, &value, vu, globals)?;
            value
        }
        Function::ThreadNum => vu.thread_num.to_string(),
        Function::Random => {
            let min = arg(args, 0, vu, globals)?;
            let max = arg(args, 1, vu, globals)?;
            let lo = parse_long(&min).ok_or_else(|| err(format!("`{fname}`: minimum `{min}` is not an integer")))?;
            let hi = parse_long(&max).ok_or_else(|| err(format!("`{fname}`: maximum `{max}` is not an integer")))?;
            if lo > hi {
                return Err(err(format!("`{fname}`: minimum {lo} is greater than maximum {hi}")));
            }
            let value = fastrand::i64(lo..=hi).to_string();
            store(args, 2, &value, vu, globals)?;
            value
        }
        Function::RandomString => {
            let length = arg(args, 0, vu, globals)?;
            // `Integer.parseInt` of the length as is; the characters are trimmed.
            let n = parse_int(&length)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| err(format!("`{fname}`: length `{length}` is not a non-negative integer")))?;
            if n > MAX_RANDOM_STRING {
                // Not a JMeter limit: a typo would otherwise allocate gigabytes per request.
                return Err(err(format!("`{fname}`: length {n} is over the limit of {MAX_RANDOM_STRING}")));
            }
            let chars: Vec<char> = arg(args, 1, vu, globals)?.trim().chars().collect();
            let mut value = String::with_capacity(n);
            for _ in 0..n {
                if chars.is_empty() {
                    // JMeter's `RandomStringUtils.random(n)`: any character; here any printable
                    // one of the Basic Multilingual Plane (no controls, no surrogates).
                    value.push(fastrand::char('\u{21}'..='\u{D7FF}'));
                } else {
                    value.push(chars[fastrand::usize(..chars.len())]);
                }
            }
            store(args, 2, &value, vu, globals)?;
            value
        }
        Function::Uuid => uuid_v4(),
        Function::Time => {
            let format = arg(args, 0, vu, globals)?;
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let value = format_time(&format, now, globals).map_err(err)?;
            store(args, 1, &value, vu, globals)?;
            value
        }
        Function::IntSum => {
            let mut values = Vec::with_capacity(args.len());
            for i in 0..args.len() {
                values.push(arg(args, i, vu, globals)?);
            }
            // JMeter's `IntSum`: every argument but the last is an `int` as is; the last one,
            // trimmed, is added if it is an `int` and is otherwise the variable to store in.
            let (last, rest) = values.split_last().map_or(("", &[][..]), |(l, r)| (l.trim(), r));
            let mut sum: i32 = 0;
            for v in rest {
                let n = parse_int(v).ok_or_else(|| err(format!("`{fname}`: `{v}` is not an integer")))?;
                sum = sum.wrapping_add(n);
            }
            let var = match parse_int(last) {
                Some(n) => {
                    sum = sum.wrapping_add(n);
                    None
                }
                None => Some(last),
            };
            let value = sum.to_string();
            if let Some(name) = var.filter(|n| !n.is_empty()) {
                vu.vars.insert(name.to_string(), value.clone());
            }
            value
        }
        Function::UrlEncode => url_encode(&arg(args, 0, vu, globals)?),
    };
    out.push_str(&value);
    Ok(())
}

/// The longest `__RandomString` (1 MiB of characters).
pub const MAX_RANDOM_STRING: usize = 1 << 20;

/// Java's `Long.parseLong` (JMeter trims `__Random`'s bounds first).
fn parse_long(s: &str) -> Option<i64> {
    java_digits(s.trim()).then(|| s.trim().parse().ok()).flatten()
}

/// Java's `Integer.parseInt`: an optional sign and ASCII digits, no spaces.
fn parse_int(s: &str) -> Option<i32> {
    java_digits(s).then(|| s.parse().ok()).flatten()
}

fn java_digits(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A random (version 4) UUID, lower-case with hyphens.
fn uuid_v4() -> String {
    let mut b = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    s
}

/// [`url_encode`] of the text around `${…}` placeholders, which are kept as written so that
/// variables still fill them (form bodies and query strings built before the test).
pub fn url_encode_around_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else { break };
        out.push_str(&url_encode(&rest[..start]));
        out.push_str(&rest[start..=start + len]);
        rest = &rest[start + len + 1..];
    }
    out.push_str(&url_encode(rest));
    out
}

/// Java's `URLEncoder.encode(text, "UTF-8")`: `a-zA-Z0-9.-*_` kept, space as `+`, every other
/// byte as `%XX`.
pub fn url_encode(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => s.push(b as char),
            b' ' => s.push('+'),
            _ => {
                let _ = write!(s, "%{b:02X}");
            }
        }
    }
    s
}

/// `__time`'s value at `millis` since the epoch, as JMeter's `TimeFunction`: the aliases `YMD`,
/// `HMS`, `YMDHMS`, `USER1`, `USER2` are resolved first (properties `time.YMD`, … or their
/// defaults); no format → the millis; `/N` (digits) → millis / N; else a
/// `java.time.format.DateTimeFormatter` pattern (English names) in the zone of
/// [`Globals::utc_offset_secs`].
fn format_time(format: &str, millis: i64, globals: &Globals) -> Result<String, String> {
    if format.is_empty() {
        return Ok(millis.to_string());
    }
    let alias = match format {
        "YMD" => Some("yyyyMMdd"),
        "HMS" => Some("HHmmss"),
        "YMDHMS" => Some("yyyyMMdd-HHmmss"),
        "USER1" | "USER2" => Some(""),
        _ => None,
    };
    let pattern = match alias {
        Some(default) => globals.properties.get(&format!("time.{format}")).map_or(default, String::as_str),
        None => format,
    };
    if let Some(div) = pattern.strip_prefix('/').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return match div.parse::<i64>() {
            Ok(d) if d != 0 => Ok((millis / d).to_string()),
            _ => Err(format!("`__time`: cannot divide the time by `{div}`")),
        };
    }
    date_time_format(pattern, millis + globals.utc_offset_secs * 1000, globals.utc_offset_secs)
        .map_err(|e| format!("`__time`: {e}"))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Java's `DateTimeFormatter.ofPattern(pattern)` (English) for `local_millis` (already shifted by
/// the offset): letters `u y M L d D H h k K m s S n a E Z X x`, quoted text and optional
/// sections; any other letter is an error.
fn date_time_format(pattern: &str, local_millis: i64, offset_secs: i64) -> Result<String, String> {
    let days = local_millis.div_euclid(86_400_000);
    let ms_of_day = local_millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday.
    let hour = ms_of_day / 3_600_000;
    let minute = ms_of_day / 60_000 % 60;
    let second = ms_of_day / 1000 % 60;
    let nanos = ms_of_day % 1000 * 1_000_000;
    let day_of_year = days - crate::civil::days_from_civil(year, 1, 1) + 1;

    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // `''` is a quote; `'text'` is literal, with `''` inside for a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("the pattern `{pattern}` has an unclosed quote")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => break,
                    Some(&ch) => {
                        out.push(ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            continue;
        }
        if matches!(c, '{' | '}' | '#') {
            return Err(format!("`{c}` is reserved in date patterns"));
        }
        if c == '[' || c == ']' {
            // Optional sections: everything is available when formatting.
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        let too_many = || format!("too many pattern letters: `{}`", c.to_string().repeat(n));
        let num = |out: &mut String, v: i64, max: usize| -> Result<(), String> {
            if n > max {
                return Err(too_many());
            }
            let _ = write!(out, "{v:0n$}");
            Ok(())
        };
        match c {
            'u' | 'y' if n == 2 => num(&mut out, year.rem_euclid(100), 2)?,
            'u' | 'y' => num(&mut out, year, 19)?,
            'M' | 'L' => match n {
                1 | 2 => num(&mut out, month, 2)?,
                3 => out.push_str(&MONTHS[month as usize - 1][..3]),
                4 => out.push_str(MONTHS[month as usize - 1]),
                5 => out.push_str(&MONTHS[month as usize - 1][..1]),
                _ => return Err(too_many()),
            },
            'd' => num(&mut out, day, 2)?,
            'D' => num(&mut out, day_of_year, 3)?,
            'H' => num(&mut out, hour, 2)?,
            'k' => num(&mut out, if hour == 0 { 24 } else { hour }, 2)?,
            'K' => num(&mut out, hour % 12, 2)?,
            'h' => num(&mut out, if hour % 12 == 0 { 12 } else { hour % 12 }, 2)?,
            'm' => num(&mut out, minute, 2)?,
            's' => num(&mut out, second, 2)?,
            'S' if n <= 9 => out.push_str(&format!("{nanos:09}")[..n]),
            'n' => num(&mut out, nanos, 19)?,
            'a' if n == 1 => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'E' => match n {
                1..=3 => out.push_str(&DAYS[weekday][..3]),
                4 => out.push_str(DAYS[weekday]),
                5 => out.push_str(&DAYS[weekday][..1]),
                _ => return Err(too_many()),
            },
            'Z' | 'X' | 'x' => {
                let sign = if offset_secs < 0 { '-' } else { '+' };
                let (h, m) = (offset_secs.abs() / 3600, offset_secs.abs() / 60 % 60);
                let _ = match (c, n) {
                    ('X', 1..=3) | ('Z', 5) if offset_secs == 0 => write!(out, "Z"),
                    ('Z', 1..=3) | ('X' | 'x', 2) => write!(out, "{sign}{h:02}{m:02}"),
                    ('Z', 4) if offset_secs == 0 => write!(out, "GMT"),
                    ('Z', 4) => write!(out, "GMT{sign}{h:02}:{m:02}"),
                    ('Z', 5) | ('X' | 'x', 3) => write!(out, "{sign}{h:02}:{m:02}"),
                    ('X' | 'x', 1) if m == 0 => write!(out, "{sign}{h:02}"),
                    ('X' | 'x', 1) => write!(out, "{sign}{h:02}{m:02}"),
                    _ => return Err(too_many()),
                };
            }
            'S' | 'a' => return Err(too_many()),
            other => return Err(format!("the date pattern letter `{other}` is not supported")),
        }
    }
    Ok(out)
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::jmx::template::parse;

    fn props(pairs: &[(&str, &str)]) -> Globals {
        Globals::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn run(src: &str, vu: &mut Vu, g: &Globals) -> Result<String, EvalError> {
        eval(&parse(src).unwrap(), vu, g)
    }

    #[test]
    fn literals_variables_and_escapes() {
        let g = Globals::default();
        let mut vu = Vu::new(1);
        vu.vars.insert("model".into(), "m1".into());
        assert_eq!(run("", &mut vu, &g).unwrap(), "");
        assert_eq!(run("/ping", &mut vu, &g).unwrap(), "/ping");
        assert_eq!(run("/models/${model}?x=${undefined}", &mut vu, &g).unwrap(), "/models/m1?x=${undefined}");
        assert_eq!(run(r"a\${model}\,\\\d", &mut vu, &g).unwrap(), r"a${model},\\d");
        assert_eq!(run("cost: ${ 5", &mut vu, &g).unwrap(), "cost: ${ 5");
    }

    #[test]
    fn properties_defaults_and_the_missing_property_error() {
        let g = props(&[("host", "example.org"), ("key", "host"), ("empty", "")]);
        let mut vu = Vu::new(1);
        assert_eq!(run("${__P(host)}", &mut vu, &g).unwrap(), "example.org");
        assert_eq!(run("${__P(port,8080)}:${__P(empty,x)}", &mut vu, &g).unwrap(), "8080:");
        assert_eq!(run("${__P(port,)}", &mut vu, &g).unwrap(), "");
        // Nested: the name is itself evaluated first.
        assert_eq!(run("${__P(${__P(key)})}", &mut vu, &g).unwrap(), "example.org");
        assert_eq!(run("${__property(host)}", &mut vu, &g).unwrap(), "example.org");
        assert_eq!(run("${__property(nope,v,d)}", &mut vu, &g).unwrap(), "d");
        assert_eq!(vu.vars["v"], "d");
        // `__property` keeps the variable name as written.
        assert_eq!(run("${__property(host, h )}", &mut vu, &g).unwrap(), "example.org");
        assert_eq!(vu.vars[" h "], "example.org");

        let e = run("x=${__P(port)}", &mut vu, &g).unwrap_err();
        assert_eq!(e.at, 2..14);
        assert_eq!(e.message, "property `port` of `__P` is not set and has no default");
        assert!(run("${__property(port,v)}", &mut vu, &g).is_err());
        // A missing property inside an argument is an error too.
        assert!(run("${__urlencode(${__P(port)})}", &mut vu, &g).is_err());
    }

    #[test]
    fn plan_time_property_check() {
        let t =
            parse("${__P(host)}:${__P(port,80)}/${__property(path,v)}${__property(q,v,d)}${__P(${__P(k)})}").unwrap();
        let needed = properties_without_default(&t);
        let names: Vec<(Option<&str>, Range<usize>)> =
            needed.iter().map(|p| (p.name.as_deref(), p.at.clone())).collect();
        assert_eq!(names, [(Some("host"), 0..12), (Some("path"), 29..50), (Some("k"), 76..85), (None, 70..87)]);
        let g = props(&[("host", "h"), ("k", "host")]);
        let missing: Vec<String> = missing_properties(&t, &g.properties).into_iter().filter_map(|p| p.name).collect();
        assert_eq!(missing, ["path"]);
        assert!(properties_without_default(&parse("plain ${v} ${__P(a,b)}").unwrap()).is_empty());
    }

    #[test]
    fn counters_per_user_and_global() {
        let g = Globals::default();
        let t = parse("${__counter(TRUE,c)}/${__counter(FALSE)}/${__counter(false, g )}").unwrap();
        let (mut a, mut b) = (Vu::new(1), Vu::new(2));
        assert_eq!(eval(&t, &mut a, &g).unwrap(), "1/1/1");
        assert_eq!(eval(&t, &mut a, &g).unwrap(), "2/2/2");
        assert_eq!(eval(&t, &mut b, &g).unwrap(), "1/3/3");
        assert_eq!(eval(&t, &mut a, &g).unwrap(), "3/4/4");
        assert_eq!((a.vars["c"].as_str(), b.vars["c"].as_str(), b.vars["g"].as_str()), ("3", "1", "3"));
        // Another call site has its own counters, as each JMeter function instance does.
        let other = parse("${__counter(FALSE)}").unwrap();
        assert_eq!(eval(&other, &mut b, &g).unwrap(), "1");
        // The mode is evaluated per call; each call advances only the counter it reads.
        let mixed = parse("${__counter(${mode})}").unwrap();
        b.vars.insert("mode".into(), "True".into());
        assert_eq!(eval(&mixed, &mut b, &g).unwrap(), "1");
        assert_eq!(eval(&mixed, &mut b, &g).unwrap(), "2");
        b.vars.insert("mode".into(), "yes".into());
        assert_eq!(eval(&mixed, &mut b, &g).unwrap(), "1");
        // Shared across threads.
        let g = std::sync::Arc::new(Globals::default());
        let t = std::sync::Arc::new(parse("${__counter(FALSE)}").unwrap());
        let handles: Vec<_> = (1..=4)
            .map(|n| {
                let (g, t) = (g.clone(), t.clone());
                std::thread::spawn(move || {
                    let mut vu = Vu::new(n);
                    (0..100).map(|_| eval(&t, &mut vu, &g).unwrap().parse::<u64>().unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=400).collect::<Vec<_>>());
    }

    #[test]
    fn thread_num_uuid_and_urlencode() {
        let g = Globals::default();
        let mut vu = Vu::new(7);
        assert_eq!(run("u${__threadNum}", &mut vu, &g).unwrap(), "u7");
        let id = run("${__UUID()}", &mut vu, &g).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, run("${__UUID}", &mut vu, &g).unwrap());
        assert_eq!(run("${__urlencode(a b&c=d/é*._-~)}", &mut vu, &g).unwrap(), "a+b%26c%3Dd%2F%C3%A9*._-%7E");
        assert_eq!(run(r"${__urlencode(x\,y)}", &mut vu, &g).unwrap(), "x%2Cy");
    }

    #[test]
    fn random_and_random_string() {
        let g = Globals::default();
        let mut vu = Vu::new(1);
        for _ in 0..200 {
            let n: i64 = run("${__Random(-2, 3 ,r)}", &mut vu, &g).unwrap().parse().unwrap();
            assert!((-2..=3).contains(&n));
            assert_eq!(vu.vars["r"], n.to_string());
        }
        assert_eq!(run("${__Random(5,5)}", &mut vu, &g).unwrap(), "5");
        assert!(run("${__Random(5,4)}", &mut vu, &g).is_err());
        assert!(run("${__Random(a,4)}", &mut vu, &g).is_err());
        // The characters are trimmed; the length is not.
        let s = run("${__RandomString(12, ab ,s)}", &mut vu, &g).unwrap();
        assert_eq!(s.len(), 12);
        assert!(s.chars().all(|c| c == 'a' || c == 'b'));
        assert_eq!(vu.vars["s"], s);
        assert_eq!(run("${__RandomString(4)}", &mut vu, &g).unwrap().chars().count(), 4);
        assert_eq!(run("${__RandomString(0,x)}", &mut vu, &g).unwrap(), "");
        assert!(run("${__RandomString(-1,x)}", &mut vu, &g).is_err());
        assert!(run("${__RandomString( 4,x)}", &mut vu, &g).is_err());
        assert_eq!(run("${__RandomString(1048576,x)}", &mut vu, &g).unwrap().len(), 1 << 20);
        assert!(run("${__RandomString(1048577,x)}", &mut vu, &g).is_err());
    }

    #[test]
    fn int_sum_with_and_without_a_variable() {
        let g = Globals::default();
        let mut vu = Vu::new(1);
        assert_eq!(run("${__intSum(1,2)}", &mut vu, &g).unwrap(), "3");
        assert_eq!(run("${__intSum(1,-2,+10,sum)}", &mut vu, &g).unwrap(), "9");
        assert_eq!(vu.vars["sum"], "9");
        // Java int arithmetic wraps.
        assert_eq!(run("${__intSum(2147483647,1)}", &mut vu, &g).unwrap(), "-2147483648");
        // The last argument is trimmed, and a variable name whenever it is not an int.
        assert_eq!(run("${__intSum(1, 2 )}", &mut vu, &g).unwrap(), "3");
        assert_eq!(run("${__intSum(1, x )}", &mut vu, &g).unwrap(), "1");
        assert_eq!(vu.vars["x"], "1");
        assert_eq!(run("${__intSum(1,2,99999999999)}", &mut vu, &g).unwrap(), "3");
        assert_eq!(vu.vars["99999999999"], "3");
        // The others are taken as written.
        assert!(run("${__intSum(1,x,2)}", &mut vu, &g).is_err());
        assert!(run("${__intSum(1, 2,3)}", &mut vu, &g).is_err());
        vu.vars.insert("n".into(), "40".into());
        assert_eq!(run("${__intSum(${n},${__intSum(1,1)})}", &mut vu, &g).unwrap(), "42");
    }

    #[test]
    fn time_formats() {
        let g = Globals::default();
        let ms = 1_709_211_909_007; // 2024-02-29T13:05:09.007Z, a Thursday.
        let f = |p: &str| format_time(p, ms, &g).unwrap();
        assert_eq!(f(""), "1709211909007");
        assert_eq!(f("/1000"), "1709211909");
        assert!(format_time("/0", ms, &g).is_err());
        // JMeter 5+ formats with `DateTimeFormatter`: `S` is a fraction of the second, `u` the year.
        assert_eq!(f("yyyy-MM-dd'T'HH:mm:ss.SSS"), "2024-02-29T13:05:09.007");
        assert_eq!(f("yyMMdd HHmmss S SSSSSS"), "240229 130509 0 007000");
        assert_eq!(f("uuuu yyyyy y[ M]"), "2024 02024 2024 2");
        assert_eq!(f("YMD"), "20240229");
        assert_eq!(f("YMDHMS"), "20240229-130509");
        assert_eq!(f("EEE, d MMM yyyy h:mm a Z X"), "Thu, 29 Feb 2024 1:05 PM +0000 Z");
        assert_eq!(f("EEEE MMMM D 'o''clock' ''"), "Thursday February 60 o'clock '");
        for bad in ["yyyy-bb", "/abc", "ddd", "'open", "#", "YYYY"] {
            assert!(format_time(bad, ms, &g).is_err(), "{bad}");
        }
        let g = props(&[("time.YMD", "dd.MM.yyyy")]);
        assert_eq!(format_time("YMD", ms, &g).unwrap(), "29.02.2024");
        let g = Globals { utc_offset_secs: -5 * 3600 - 1800, ..Globals::default() };
        assert_eq!(format_time("yyyy-MM-dd HH:mm XXX Z", ms, &g).unwrap(), "2024-02-29 07:35 -05:30 -0530");
        assert_eq!(date_time_format("yyyy-MM-dd HH:mm:ss.SSS", -1, 0).unwrap(), "1969-12-31 23:59:59.999");

        let mut vu = Vu::new(1);
        let now: i64 = run("${__time(,t)}", &mut vu, &g).unwrap().parse().unwrap();
        assert!(now > 1_700_000_000_000);
        assert_eq!(vu.vars["t"], now.to_string());
        assert_eq!(run("${__time(/1000)}", &mut vu, &g).unwrap().len(), 10);
        let g = props(&[("time.USER1", "yyyy")]);
        assert_eq!(run("${__time(USER1)}", &mut vu, &g).unwrap().len(), 4);
        assert!(run("${__time(yyyy-bb)}", &mut vu, &g).is_err());
    }

    #[test]
    fn literal_templates_are_a_clone() {
        let g = Globals::default();
        let mut vu = Vu::new(1);
        let t = parse("no substitution here").unwrap();
        assert_eq!(t.segments.len(), 1);
        assert_eq!(eval(&t, &mut vu, &g).unwrap(), "no substitution here");
        let mut out = String::from(">");
        eval_into(&parse("${__threadNum}-${v}").unwrap(), &mut vu, &g, &mut out).unwrap();
        assert_eq!(out, ">1-${v}");
    }

    /// Well-formed calls of every supported function, nested, with arguments of any kind.
    fn calls() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(String::new()),
            Just("TRUE".to_string()),
            Just("a".to_string()),
            Just("b".to_string()),
            Just("${a}".to_string()),
            Just("${nope}".to_string()),
            Just("yyyy-MM-dd HH:mm:ss.SSS".to_string()),
            Just("/1000".to_string()),
            Just(r"x\,y \$".to_string()),
            "[-+]?[0-9]{1,20}",
            r"[a-zA-Z' \[\]#]{0,6}",
        ];
        leaf.prop_recursive(4, 48, 4, |inner| {
            // Every function with an argument count it accepts (so that most inputs parse).
            (0..crate::plan::jmx::template::FUNCTIONS.len(), proptest::collection::vec(inner.clone(), 0..5), inner)
                .prop_map(|(f, mut args, text)| {
                    let (name, _, min, max) = crate::plan::jmx::template::FUNCTIONS[f];
                    args.resize(args.len().clamp(min, max.min(4)), "1".to_string());
                    if let [only] = args.as_mut_slice() {
                        // `${__P()}` has no argument as meant.
                        if only.is_empty() {
                            *only = "1".to_string();
                        }
                    }
                    (name, args, text)
                })
                .prop_map(|(name, args, text)| format!("{text}${{{name}({})}}", args.join(",")))
        })
    }

    proptest::proptest! {
        #[test]
        fn evaluating_well_formed_calls_never_panics(src in calls()) {
            let t = parse(&src).unwrap();
            let g = props(&[("a", "1"), ("TRUE", "5")]);
            let mut vu = Vu::new(1);
            vu.vars.insert("a".into(), "2".into());
            let _ = eval(&t, &mut vu, &g);
            let _ = missing_properties(&t, &g.properties);
        }

        #[test]
        fn evaluation_never_panics(src in r"(\$\{|__P\(|__property\(|__counter\(|__Random\(|__RandomString\(|__time\(|__intSum\(|__urlencode\(|__UUID|__threadNum|[(),}\\]|TRUE|[-+]?[0-9]{1,12}|yyyy|[a-zA-Z]{1,3}|/|é| ){0,24}") {
            if let Ok(t) = parse(&src) {
                let g = props(&[("a", "1"), ("b", "${__P(a)}")]);
                let mut vu = Vu::new(3);
                vu.vars.insert("a".into(), "2".into());
                let _ = eval(&t, &mut vu, &g);
                let _ = properties_without_default(&t);
            }
        }
    }
}
