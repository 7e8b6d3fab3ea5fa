//! The deserialization error: the message in the words of a config file, and the span of the
//! value at fault.

use std::fmt;

use serde::de::{self, Expected, Unexpected};

use crate::config::diagnostic::{list_or, suggestion, Diagnostic};
use crate::config::node::{Node, NodeKind};
use crate::config::source::Span;

/// A deserialization error with the span of the value at fault (set as it bubbles up).
#[derive(Debug)]
pub struct Error {
    message: String,
    span: Option<Span>,
    help: Option<String>,
    notes: Vec<String>,
    /// Unknown/missing key errors still waiting for " in an execution".
    wants_context: bool,
    /// The error of a value that is better understood with its key: waits for "`key`: ".
    wants_key: bool,
}

impl Error {
    pub(super) fn new(message: String) -> Self {
        Error { message, span: None, help: None, notes: Vec::new(), wants_context: false, wants_key: false }
    }

    /// Sets the span (and the node's provenance note) if no inner value claimed the error.
    pub(super) fn at(mut self, node: &Node) -> Self {
        if self.span.is_none() {
            self.span = Some(node.span);
            if let Some(note) = &node.note {
                self.notes.push(note.clone());
            }
        }
        self
    }

    pub(super) fn at_span(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }

    /// Adds " in an execution" to an unknown/missing key message.
    pub(super) fn in_struct(mut self, name: &str) -> Self {
        if self.wants_context {
            self.wants_context = false;
            if let Some(context) = struct_context(name) {
                self.message = format!("{} {context}", self.message);
            }
        }
        self
    }

    /// Marks the error of a value whose message should start with its key.
    pub(super) fn keyed(mut self) -> Self {
        self.wants_key = true;
        self
    }

    /// Starts the message with "`key`: " if the value at fault asked for it.
    pub(super) fn under_key(mut self, key: &str) -> Self {
        if self.wants_key {
            self.wants_key = false;
            self.message = format!("`{key}`: {}", self.message);
        }
        self
    }

    /// Converts to a diagnostic, at `fallback` if nothing better is known.
    pub fn into_diagnostic(self, fallback: Span) -> Diagnostic {
        let mut d = Diagnostic::error(self.span.unwrap_or(fallback), self.message);
        d.help = self.help;
        d.notes = self.notes;
        d
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::new(wrong_value(unexp, exp))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::new(wrong_value(unexp, exp))
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        Error::new(format!("expected {}, found {len} item{}", expected(exp), if len == 1 { "" } else { "s" }))
    }

    fn unknown_variant(variant: &str, names: &'static [&'static str]) -> Self {
        let mut e = Error::new(format!("unknown value `{variant}`, expected {}", list_or(names)));
        e.help = suggestion(variant, names.iter().copied());
        e
    }

    fn unknown_field(field: &str, names: &'static [&'static str]) -> Self {
        let mut e = Error::new(format!("unknown key `{field}`"));
        e.help = suggestion(field, names.iter().copied()).or_else(|| match names {
            [] => None,
            _ => Some(format!("known keys are {}", list_or(names))),
        });
        e.wants_context = true;
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = Error::new(format!("missing key `{field}`"));
        e.wants_context = true;
        e
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::new(format!("duplicate key `{field}`"))
    }
}

/// "expected …, found …", or what is really wrong when that would mislead: a whole number out of
/// the range of its field, or a number that YAML 1.1 reads as a string (`1e3`).
fn wrong_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> String {
    let type_name = exp.to_string();
    let number = match unexp {
        Unexpected::Signed(n) => Some(n as f64),
        Unexpected::Unsigned(n) => Some(n as f64),
        Unexpected::Float(f) if f.fract() == 0.0 => Some(f),
        _ => None,
    };
    if let (Some(n), Some((min, max))) = (number, integer_range(&type_name)) {
        if n > max as f64 {
            return format!("{} is out of range: at most {max}", unexpected(unexp));
        }
        if n < min as f64 && min < 0 {
            return format!("{} is out of range: at least {min}", unexpected(unexp));
        }
    }
    let expected = expected(exp);
    if let Unexpected::Str(text) = unexp {
        if let Some(hint) = yaml11_number_hint(text, &expected) {
            return format!("expected {expected}, found `{text}`, which is a string in YAML 1.1; {hint}");
        }
    }
    format!("expected {expected}, found {}", unexpected(unexp))
}

/// The range of serde's integer types, by the name serde's visitors give.
fn integer_range(type_name: &str) -> Option<(i128, u128)> {
    Some(match type_name {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i8" => (i8::MIN.into(), i8::MAX as u128),
        "i16" => (i16::MIN.into(), i16::MAX as u128),
        "i32" => (i32::MIN.into(), i32::MAX as u128),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX as u128),
        _ => return None,
    })
}

/// How to write a number that YAML 1.1 (PyYAML, Taurus) reads as a string, such as `1e3` (a float
/// needs a dot, and its exponent a sign): `None` unless a number was expected and `text` is one in
/// JSON or YAML 1.2 but a string when written plain in YAML 1.1.
fn yaml11_number_hint(text: &str, expected: &str) -> Option<String> {
    if !expected.contains("number") || !matches!(crate::config::yaml::resolve_plain(text), NodeKind::Str(_)) {
        return None;
    }
    let digits = text.trim_start_matches(['-', '+']);
    if !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None; // not `inf`, `nan` or `infinity`, which Rust would parse
    }
    let value: f64 = text.replace('_', "").parse().ok().filter(|v: &f64| v.is_finite())?;
    let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((text, ""));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    let float = match exponent {
        "" => mantissa,
        e if e.starts_with(['-', '+']) => format!("{mantissa}e{e}"),
        e => format!("{mantissa}e+{e}"),
    };
    let whole = (value.fract() == 0.0 && value.abs() < 1e18).then(|| format!("{}", value as i64));
    Some(match (whole, expected.contains("whole number")) {
        (Some(w), true) => format!("write {w}"),
        (None, true) if value.fract() == 0.0 => "as a whole number it is out of range too".to_string(),
        (None, true) => "write a whole number".to_string(),
        (Some(w), false) => format!("write {w} or {float}"),
        (None, false) => format!("write {float}"),
    })
}

/// Serde's "expected" phrases in the words of a config file.
fn expected(exp: &dyn Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "`true` or `false`".into(),
        "a string" | "a borrowed string" | "string" | "path string" => "a string".into(),
        "a character" | "a char" => "a single character".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "unit" => "an empty value".into(),
        "option" => "a value".into(),
        _ if text.starts_with("struct ") => "a mapping".into(),
        _ if text.starts_with("tuple of ") => {
            format!("a list of {} items", text.trim_start_matches("tuple of ").trim_end_matches(" elements"))
        }
        _ if text.starts_with("enum ") || text.starts_with("variant ") => "one of the allowed values".into(),
        _ => text,
    }
}

/// Serde's "unexpected" values in the words of a config file.
fn unexpected(unexp: Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Bool(b) => format!("the boolean `{b}`"),
        Unexpected::Unsigned(n) => format!("the number `{n}`"),
        Unexpected::Signed(n) => format!("the number `{n}`"),
        Unexpected::Float(f) => format!("the number `{f}`"),
        Unexpected::Char(c) => format!("the character `{c}`"),
        Unexpected::Str(s) => {
            let shown: String = s.chars().take(40).collect();
            let more = if s.chars().count() > 40 { "…" } else { "" };
            format!("a string `{shown}{more}`")
        }
        Unexpected::Bytes(_) => "bytes".into(),
        Unexpected::Unit => "an empty value".into(),
        Unexpected::Option => "an optional value".into(),
        Unexpected::NewtypeStruct => "a value".into(),
        Unexpected::Seq => "a list".into(),
        Unexpected::Map => "a mapping".into(),
        Unexpected::Enum
        | Unexpected::UnitVariant
        | Unexpected::NewtypeVariant
        | Unexpected::TupleVariant
        | Unexpected::StructVariant => "a choice".into(),
        Unexpected::Other(other) => other.into(),
    }
}

/// Where an unknown/missing key is, from the struct name serde gives: `Execution` → "in an
/// execution", `HttpRequest` → "in a http request", `Root` → "at the top level"; a name in
/// backticks (an enum variant) is used as is. `None` for names that say nothing.
fn struct_context(name: &str) -> Option<String> {
    if name.is_empty() || name.starts_with('$') {
        return None;
    }
    if matches!(name, "Root" | "Config" | "Document" | "TopLevel") {
        return Some("at the top level".to_string());
    }
    if name.starts_with('`') {
        return Some(format!("in {name}"));
    }
    let mut words = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    let article = if words.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    Some(format!("in {article} {words}"))
}
