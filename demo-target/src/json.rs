//! Minimal JSON output helpers: string escaping and a tiny object builder.
//!
//! The server only ever *writes* JSON, so a full JSON library is not needed;
//! these helpers keep the hand-built bodies valid (quotes, control characters).

use std::fmt::Write as _;

/// Returns `s` as a quoted JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds a JSON object from already-encoded values, keeping insertion order.
#[derive(Default)]
pub struct Object {
    body: String,
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field whose value is already valid JSON text.
    pub fn raw(mut self, key: &str, value: impl AsRef<str>) -> Self {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        self.body.push_str(&string(key));
        self.body.push(':');
        self.body.push_str(value.as_ref());
        self
    }

    /// Adds a string field (escaped).
    pub fn str(self, key: &str, value: &str) -> Self {
        self.raw(key, string(value))
    }

    /// Adds a numeric field.
    pub fn num(self, key: &str, value: impl std::fmt::Display) -> Self {
        self.raw(key, value.to_string())
    }

    pub fn build(self) -> String {
        format!("{{{}}}", self.body)
    }
}

/// Joins already-encoded JSON values into an array.
pub fn array<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}

/// The MMS/TorchServe error body: `{"code": N, "type": "...", "message": "..."}`.
pub fn error(code: u16, kind: &str, message: &str) -> String {
    Object::new().num("code", code).str("type", kind).str("message", message).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_specials() {
        assert_eq!(string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        assert_eq!(string("héllo"), "\"héllo\"");
    }

    #[test]
    fn builds_objects_and_arrays() {
        let o = Object::new().str("a", "x").num("b", 2).raw("c", array(["1", "2"]));
        assert_eq!(o.build(), r#"{"a":"x","b":2,"c":[1,2]}"#);
        assert_eq!(Object::new().build(), "{}");
        assert_eq!(array(Vec::<String>::new()), "[]");
    }
}
