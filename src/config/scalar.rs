//! Scalars as YAML 1.1 (PyYAML, hence Taurus) reads them, and the way back from a scalar's
//! value to the bytes of the file it was written in.
//!
//! [`resolve_plain`] types an unquoted scalar by PyYAML's resolver rules. [`decode_scalar`]
//! re-reads a scalar's source text (plain, quoted or block) and records, for every byte of the
//! value, the file offset it came from: that is how an error found at byte 12 of a criterion
//! string is shown under the right characters of the file, escapes and folding included.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::node::NodeKind;

/// Resolves a plain scalar the way PyYAML's YAML 1.1 resolver does.
///
/// null: empty, `~`, `null`/`Null`/`NULL`; booleans: `true`/`yes`/`on`, `false`/`no`/`off` in
/// lower, Capitalized and UPPER case; ints: decimal, `0b…`, `0x…`, `0…` (octal), `1:30`
/// (base 60), `_` separators; floats: with a `.` (`1.5`, `1.`, `.5`, `1.0e+3`), `.inf`, `.nan`.
/// Note `1e3` is a string in YAML 1.1 (the exponent needs a dot and a sign).
pub fn resolve_plain(text: &str) -> NodeKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return NodeKind::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return NodeKind::Bool(false),
        _ => {}
    }
    if let Some(kind) = resolve_int(text) {
        return kind;
    }
    if let Some(f) = resolve_float(text) {
        return NodeKind::Float(f);
    }
    NodeKind::Str(text.to_string())
}

static INT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .expect("valid regex")
});

static FLOAT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .expect("valid regex")
});

/// PyYAML's `construct_yaml_int`; an int too large for `i64` becomes a float.
fn resolve_int(text: &str) -> Option<NodeKind> {
    if !INT_RE.is_match(text) {
        return None;
    }
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.as_bytes().first() {
        Some(b'-') => (true, &cleaned[1..]),
        Some(b'+') => (false, &cleaned[1..]),
        _ => (false, &cleaned[..]),
    };
    let magnitude: Option<i128> = if digits == "0" {
        Some(0)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()
    } else if digits.contains(':') {
        let mut value: i128 = 0;
        for part in digits.split(':') {
            value = value.checked_mul(60)?.checked_add(part.parse::<i128>().ok()?)?;
        }
        Some(value)
    } else if let Some(oct) = digits.strip_prefix('0') {
        i128::from_str_radix(oct, 8).ok()
    } else {
        digits.parse::<i128>().ok()
    };
    let magnitude = match magnitude {
        Some(m) => m,
        // Too long even for i128, or nothing left after removing `_` (PyYAML fails there too).
        None => return digits.parse::<f64>().ok().map(|f| NodeKind::Float(if negative { -f } else { f })),
    };
    let value = if negative { -magnitude } else { magnitude };
    Some(match i64::try_from(value) {
        Ok(i) => NodeKind::Int(i),
        Err(_) => NodeKind::Float(value as f64),
    })
}

/// PyYAML's `construct_yaml_float`.
fn resolve_float(text: &str) -> Option<f64> {
    if !FLOAT_RE.is_match(text) {
        return None;
    }
    let cleaned = text.replace('_', "").to_lowercase();
    let (sign, body) = match cleaned.as_bytes().first() {
        Some(b'-') => (-1.0, &cleaned[1..]),
        Some(b'+') => (1.0, &cleaned[1..]),
        _ => (1.0, &cleaned[..]),
    };
    if body == ".inf" {
        return Some(sign * f64::INFINITY);
    }
    if body == ".nan" {
        return Some(f64::NAN);
    }
    if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + parse_float_lenient(part)?;
        }
        return Some(sign * value);
    }
    Some(sign * parse_float_lenient(body)?)
}

/// Parses `1.`, `.5`, `1.e+3` too (Python's `float` accepts them).
fn parse_float_lenient(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().or_else(|| {
        let fixed = text.replace(".e", ".0e");
        let fixed = if fixed.ends_with('.') { format!("{fixed}0") } else { fixed };
        let fixed = if fixed.starts_with('.') { format!("0{fixed}") } else { fixed };
        fixed.parse::<f64>().ok()
    })
}

/// The offset of the `|`/`>` header of a block scalar whose content starts at `content`: the
/// last non-blank line before the content must end with it (comments aside).
pub(crate) fn block_header_before(text: &str, content: usize) -> Option<usize> {
    let before = text.get(..content)?;
    let mut end = before.len();
    loop {
        let line_start = before[..end].rfind('\n').map_or(0, |i| i + 1);
        let line = &before[line_start..end];
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        let code = code.trim_end();
        if !code.is_empty() {
            let pos = code.rfind(['|', '>'])?;
            let tail = &code[pos + 1..];
            let is_header = tail.chars().all(|c| c == '-' || c == '+' || c.is_ascii_digit());
            return is_header.then_some(line_start + pos);
        }
        if line_start == 0 {
            return None;
        }
        end = line_start - 1;
    }
}

/// A scalar's value with, for every value byte, the byte offset in the file it came from.
#[derive(Debug)]
pub(crate) struct ValueMap {
    /// `offsets[i]` is the file offset of value byte `i`; one extra entry for the end.
    offsets: Vec<usize>,
    /// Bytes of source the scalar occupies, from its first byte (quotes included).
    pub consumed: usize,
}

impl ValueMap {
    /// The file offset of value byte `i` (the end of the scalar for `i` past the value).
    pub fn file_offset(&self, i: usize) -> usize {
        self.offsets.get(i).copied().unwrap_or_else(|| self.offsets.last().copied().unwrap_or(0))
    }
}

/// Decodes the scalar whose text starts at `start` of `text`, recording where every value byte
/// came from. The style is told by the first character (`'`, `"`, `|`/`>`, else plain). For
/// plain scalars the expected value is needed to know where the scalar ends. Returns `None`
/// if the decoded text is not `expected`.
pub(crate) fn decode_scalar(text: &str, start: usize, expected: Option<&str>) -> Option<ValueMap> {
    let rest = text.get(start..)?;
    let mut out = Decoder { value: String::new(), offsets: Vec::new() };
    // `content_end` is where the value's text ends, `end` where the scalar ends (after a quote).
    let (content_end, end) = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let end = out.quoted(text, start, q)?;
            (end - 1, end)
        }
        Some('|' | '>') => {
            let end = out.block(text, start)?;
            (end, end)
        }
        _ => {
            let end = out.plain(text, start, expected?)?;
            (end, end)
        }
    };
    out.offsets.push(content_end);
    if expected.is_some_and(|expected| out.value != expected) {
        return None;
    }
    Some(ValueMap { offsets: out.offsets, consumed: end - start })
}

struct Decoder {
    value: String,
    offsets: Vec<usize>,
}

impl Decoder {
    fn push(&mut self, c: char, at: usize) {
        self.value.push(c);
        self.offsets.extend(std::iter::repeat_n(at, c.len_utf8()));
    }

    /// Folds a line break and the next line's indentation at `i` (just past the break) into
    /// one space, or into `\n`s for blank lines; returns the offset of the next content.
    fn fold(&mut self, text: &str, mut i: usize, at: usize) -> usize {
        let mut breaks = 0;
        loop {
            let line_rest = &text[i..];
            let indent = line_rest.len() - line_rest.trim_start_matches([' ', '\t']).len();
            i += indent;
            if text[i..].starts_with('\n') {
                breaks += 1;
                i += 1;
            } else if text[i..].starts_with("\r\n") {
                breaks += 1;
                i += 2;
            } else {
                break;
            }
        }
        if breaks == 0 {
            self.push(' ', at);
        } else {
            for _ in 0..breaks {
                self.push('\n', at);
            }
        }
        i
    }

    /// Drops trailing blanks already pushed (YAML strips them before a line fold).
    fn trim_trailing_blanks(&mut self) {
        while self.value.ends_with([' ', '\t']) {
            self.value.pop();
            self.offsets.pop();
        }
    }

    fn quoted(&mut self, text: &str, start: usize, quote: char) -> Option<usize> {
        let mut i = start + 1;
        loop {
            let c = text[i..].chars().next()?;
            match c {
                c if c == quote => {
                    if quote == '\'' && text[i + 1..].starts_with('\'') {
                        self.push('\'', i);
                        i += 2;
                    } else {
                        return Some(i + 1);
                    }
                }
                '\\' if quote == '"' => {
                    let next = text[i + 1..].chars().next()?;
                    let simple = match next {
                        '0' => Some('\0'),
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        't' | '\t' => Some('\t'),
                        'n' => Some('\n'),
                        'v' => Some('\x0b'),
                        'f' => Some('\x0c'),
                        'r' => Some('\r'),
                        'e' => Some('\x1b'),
                        ' ' => Some(' '),
                        '"' => Some('"'),
                        '/' => Some('/'),
                        '\\' => Some('\\'),
                        'N' => Some('\u{85}'),
                        '_' => Some('\u{a0}'),
                        'L' => Some('\u{2028}'),
                        'P' => Some('\u{2029}'),
                        _ => None,
                    };
                    if let Some(ch) = simple {
                        self.push(ch, i);
                        i += 1 + next.len_utf8();
                    } else if next == '\n' || next == '\r' {
                        // An escaped line break joins the lines without a space.
                        i += 1;
                        while text[i..].starts_with(['\n', '\r', ' ', '\t']) {
                            i += 1;
                        }
                    } else {
                        let digits = match next {
                            'x' => 2,
                            'u' => 4,
                            'U' => 8,
                            _ => return None,
                        };
                        let hex = text.get(i + 2..i + 2 + digits)?;
                        let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        self.push(ch, i);
                        i += 2 + digits;
                    }
                }
                '\n' | '\r' => {
                    self.trim_trailing_blanks();
                    let after = i + if text[i..].starts_with("\r\n") { 2 } else { 1 };
                    i = self.fold(text, after, i);
                }
                c => {
                    self.push(c, i);
                    i += c.len_utf8();
                }
            }
        }
    }

    fn plain(&mut self, text: &str, start: usize, expected: &str) -> Option<usize> {
        let mut i = start;
        while self.value.len() < expected.len() {
            let c = text[i..].chars().next()?;
            if c == '\n' || c == '\r' {
                self.trim_trailing_blanks();
                let after = i + if text[i..].starts_with("\r\n") { 2 } else { 1 };
                i = self.fold(text, after, i);
            } else {
                self.push(c, i);
                i += c.len_utf8();
            }
        }
        Some(i)
    }

    /// Best effort for `|` and `>` blocks: content lines after the header with the first
    /// line's indentation removed; `|` keeps line breaks, `>` folds single breaks into spaces
    /// (more-indented lines of `>` blocks are not special-cased, so they do not map).
    fn block(&mut self, text: &str, start: usize) -> Option<usize> {
        let header_end = text[start..].find('\n').map(|i| start + i + 1)?;
        let header = &text[start..header_end];
        let folded = header.starts_with('>');
        let mut i = header_end;
        let mut indent = None;
        let mut end = header_end;
        let mut first = true;
        let mut blanks = 0usize;
        while i < text.len() {
            let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            let line = text[i..line_end].trim_end_matches('\r');
            let spaces = line.len() - line.trim_start_matches(' ').len();
            let next = (line_end + 1).min(text.len());
            if line.trim().is_empty() {
                blanks += 1;
                i = next;
                continue;
            }
            let ind = *indent.get_or_insert(spaces);
            if spaces < ind {
                break;
            }
            let breaks = if first || !folded { blanks + usize::from(!first) } else { blanks };
            if !first && folded && blanks == 0 {
                self.push(' ', i);
            }
            for _ in 0..breaks {
                self.push('\n', i);
            }
            first = false;
            blanks = 0;
            for (off, c) in line[ind..].char_indices() {
                self.push(c, i + ind + off);
            }
            end = i + line.len();
            i = next;
        }
        if !first {
            if header.contains('+') {
                for _ in 0..=blanks {
                    self.push('\n', end);
                }
            } else if !header.contains('-') {
                self.push('\n', end);
            }
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml11_scalars_like_pyyaml() {
        let cases: &[(&str, NodeKind)] = &[
            ("", NodeKind::Null),
            ("~", NodeKind::Null),
            ("NULL", NodeKind::Null),
            ("yes", NodeKind::Bool(true)),
            ("Off", NodeKind::Bool(false)),
            ("TRUE", NodeKind::Bool(true)),
            ("tRUE", NodeKind::Str("tRUE".into())),
            ("y", NodeKind::Str("y".into())),
            ("42", NodeKind::Int(42)),
            ("-1_000", NodeKind::Int(-1000)),
            ("0x1F", NodeKind::Int(31)),
            ("0b101", NodeKind::Int(5)),
            ("0644", NodeKind::Int(420)),
            ("0800", NodeKind::Str("0800".into())),
            ("1:30", NodeKind::Int(90)),
            ("1.5", NodeKind::Float(1.5)),
            ("1.", NodeKind::Float(1.0)),
            (".5", NodeKind::Float(0.5)),
            ("1.0e+3", NodeKind::Float(1000.0)),
            ("1e3", NodeKind::Str("1e3".into())),
            ("-.inf", NodeKind::Float(f64::NEG_INFINITY)),
            ("1:30.5", NodeKind::Float(90.5)),
            ("10s", NodeKind::Str("10s".into())),
            ("99999999999999999999", NodeKind::Float(1e20)),
        ];
        for (text, want) in cases {
            let got = resolve_plain(text);
            let same = match (&got, want) {
                (NodeKind::Float(a), NodeKind::Float(b)) => a == b,
                _ => format!("{got:?}") == format!("{want:?}"),
            };
            assert!(same, "{text:?}: got {got:?}, want {want:?}");
        }
        assert!(matches!(resolve_plain(".NaN"), NodeKind::Float(f) if f.is_nan()));
    }

    #[test]
    fn decoding_maps_value_bytes_to_file_offsets() {
        let text = "k: 'it''s x'\n";
        let map = decode_scalar(text, 3, Some("it's x")).unwrap();
        assert_eq!(map.consumed, "'it''s x'".len());
        assert_eq!(&text[map.file_offset(5)..map.file_offset(6)], "x");
        let text = "k: \"a\\tb c\"\n";
        let map = decode_scalar(text, 3, Some("a\tb c")).unwrap();
        assert_eq!(&text[map.file_offset(4)..map.file_offset(5)], "c");
        let text = "k: plain\n  folded\n";
        let map = decode_scalar(text, 3, Some("plain folded")).unwrap();
        assert_eq!(&text[map.file_offset(6)..map.file_offset(12)], "folded");
        assert!(decode_scalar("k: other\n", 3, Some("value")).is_none());
    }
}
