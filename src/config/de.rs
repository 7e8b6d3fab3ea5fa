//! Typed reading of the located tree: a `serde::Deserializer` over [`Node`] whose every error
//! carries the span of the value at fault.
//!
//! * wrong type → the value's span ("expected a number, found a string `ten`");
//! * unknown key → the key's span, with "did you mean" against the fields serde expected;
//! * missing key → the span of the mapping that lacks it;
//! * an `Error::custom` from a field's own `Deserialize` (e.g. a duration parser) → that field's
//!   value.
//!
//! Strings are lenient and numbers strict, as Taurus users expect: a string field accepts
//! `label: 200`, `threshold: 150` or `enabled: yes` and reads the scalar's text as written, but a
//! number field does not accept `'10'`. A null is read as an empty list or mapping.
//!
//! [`Spanned<T>`] captures the span of a value (via a private struct name the deserializer
//! recognizes, as the `toml` crate does), and [`Node`] itself can be deserialized, so a model
//! can keep a raw subtree with its locations.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::value::{StrDeserializer, U64Deserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Expected, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::diagnostic::{list_or, suggestion, Diagnostic};
use crate::config::node::{Map, Node, NodeKind};
use crate::config::source::{SourceId, Span};

/// Reads a typed value from a node; errors point at the value at fault.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Diagnostic> {
    T::deserialize(NodeDe(node)).map_err(|e| e.into_diagnostic(node.span))
}

/// A deserialization error with the span of the value at fault (set as it bubbles up).
#[derive(Debug)]
pub struct Error {
    message: String,
    span: Option<Span>,
    help: Option<String>,
    notes: Vec<String>,
    /// Unknown/missing key errors still waiting for " in an execution".
    wants_context: bool,
}

impl Error {
    fn new(message: String) -> Self {
        Error { message, span: None, help: None, notes: Vec::new(), wants_context: false }
    }

    /// Sets the span (and the node's provenance note) if no inner value claimed the error.
    fn at(mut self, node: &Node) -> Self {
        if self.span.is_none() {
            self.span = Some(node.span);
            if let Some(note) = &node.note {
                self.notes.push(note.clone());
            }
        }
        self
    }

    fn at_span(mut self, span: Span) -> Self {
        self.span.get_or_insert(span);
        self
    }

    /// Adds " in an execution" to an unknown/missing key message.
    fn in_struct(mut self, name: &str) -> Self {
        if self.wants_context {
            self.wants_context = false;
            if let Some(context) = struct_context(name) {
                self.message = format!("{} {context}", self.message);
            }
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
        Error::new(format!("expected {}, found {}", expected(exp), unexpected(unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::new(format!("expected {}, found {}", expected(exp), unexpected(unexp)))
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

/// Adds the node's span to an error its visitor produced.
fn located<T>(node: &Node, result: Result<T, Error>) -> Result<T, Error> {
    result.map_err(|e| e.at(node))
}

/// Deserializes from one node.
#[derive(Clone, Copy)]
struct NodeDe<'a>(&'a Node);

impl<'a> NodeDe<'a> {
    fn visit_seq<'de, V: Visitor<'de>>(self, items: &'a [Node], visitor: V) -> Result<V::Value, Error> {
        let mut access = SeqAccess { iter: items.iter(), len: items.len() };
        let value = visitor.visit_seq(&mut access)?;
        if access.iter.len() > 0 {
            return Err(de::Error::invalid_length(items.len(), &"fewer items"));
        }
        Ok(value)
    }

    fn visit_struct<'de, V: Visitor<'de>>(self, name: &str, visitor: V) -> Result<V::Value, Error> {
        let empty = Map::new();
        let map = match &self.0.kind {
            NodeKind::Map(map) => map,
            NodeKind::Null => &empty,
            _ => return located(self.0, Err(self.invalid_type(&"a mapping"))),
        };
        let access = MapAccess { iter: map.iter(), value: None, context: Some(name) };
        located(self.0, visitor.visit_map(access).map_err(|e| e.in_struct(name)))
    }

    fn invalid_type(self, exp: &dyn Expected) -> Error {
        let node = self.0;
        let unexp = match &node.kind {
            NodeKind::Null => Unexpected::Unit,
            NodeKind::Bool(b) => Unexpected::Bool(*b),
            NodeKind::Int(i) => Unexpected::Signed(*i),
            NodeKind::Float(f) => Unexpected::Float(*f),
            NodeKind::Str(s) => Unexpected::Str(s),
            NodeKind::Seq(_) => Unexpected::Seq,
            NodeKind::Map(_) => Unexpected::Map,
        };
        de::Error::invalid_type(unexp, exp)
    }
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Int(i) => visitor.visit_i64(*i),
            NodeKind::Float(f) => visitor.visit_f64(*f),
            NodeKind::Str(s) => visitor.visit_str(s),
            NodeKind::Seq(items) => self.visit_seq(items, visitor),
            NodeKind::Map(map) => visitor.visit_map(MapAccess { iter: map.iter(), value: None, context: None }),
        };
        located(node, result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Lenient: `label: 200` is the string `200`, as written.
        match &self.0.kind {
            NodeKind::Bool(_) | NodeKind::Int(_) | NodeKind::Float(_) => {
                let text = self.0.scalar_text().unwrap_or_default();
                located(self.0, visitor.visit_str(&text))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.kind {
            NodeKind::Null => located(self.0, visitor.visit_none()),
            _ => located(self.0, visitor.visit_some(self)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        located(self.0, visitor.visit_newtype_struct(self))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.kind {
            NodeKind::Seq(items) => located(self.0, self.visit_seq(items, visitor)),
            NodeKind::Null => located(self.0, self.visit_seq(&[], visitor)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let empty = Map::new();
        let map = match &self.0.kind {
            NodeKind::Map(map) => map,
            NodeKind::Null => &empty,
            _ => return self.deserialize_any(visitor),
        };
        located(self.0, visitor.visit_map(MapAccess { iter: map.iter(), value: None, context: None }))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match name {
            SPANNED => {
                visitor.visit_map(SpannedAccess { span: self.0.span, value: SpannedValue::Node(self.0), step: 0 })
            }
            RAW_NODE => {
                STASH.with(|stash| *stash.borrow_mut() = Some(self.0.clone()));
                let result = visitor.visit_unit();
                STASH.with(|stash| stash.borrow_mut().take());
                result
            }
            _ => self.visit_struct(name, visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let node = self.0;
        let result = match &node.kind {
            NodeKind::Map(map) if map.len() == 1 => match map.iter().next() {
                Some((key, (key_span, value))) => {
                    visitor.visit_enum(EnumAccess { name: key.clone(), name_span: *key_span, value: Some(value) })
                }
                None => Err(self.invalid_type(&"a choice")),
            },
            NodeKind::Str(_) | NodeKind::Int(_) | NodeKind::Bool(_) | NodeKind::Float(_) => {
                let name = node.scalar_text().unwrap_or_default().into_owned();
                visitor.visit_enum(EnumAccess { name, name_span: node.span, value: None })
            }
            _ => Err(Error::new(format!("expected {}, found {}", list_or(variants), node.describe()))),
        };
        located(node, result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 bytes byte_buf
    }
}

/// Walks the items of a list.
struct SeqAccess<'a> {
    iter: std::slice::Iter<'a, Node>,
    len: usize,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some(node) => located(node, seed.deserialize(NodeDe(node))).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.len)
    }
}

/// Walks the entries of a mapping; `context` names the struct being read, if any.
struct MapAccess<'a> {
    iter: indexmap::map::Iter<'a, String, (Span, Node)>,
    value: Option<&'a Node>,
    context: Option<&'a str>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, (key_span, value))) = self.iter.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let result = seed.deserialize(KeyDe { key, span: *key_span });
        result.map(Some).map_err(|e| {
            let e = e.at_span(*key_span);
            match self.context {
                Some(name) => e.in_struct(name),
                None => e,
            }
        })
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(node) => located(node, seed.deserialize(NodeDe(node))),
            None => Err(Error::new("a value was read before its key".into())),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Deserializes a mapping key (always text in the tree; parsed when a number is wanted).
struct KeyDe<'a> {
    key: &'a str,
    span: Span,
}

impl KeyDe<'_> {
    fn err(&self, e: Error) -> Error {
        e.at_span(self.span)
    }

    fn parsed<T: std::str::FromStr>(&self, what: &'static str) -> Result<T, Error> {
        self.key.parse::<T>().map_err(|_| self.err(de::Error::invalid_type(Unexpected::Str(self.key), &what)))
    }
}

macro_rules! key_number {
    ($($method:ident $visit:ident $ty:ty,)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value: $ty = self.parsed(stringify!($ty))?;
            visitor.$visit(value).map_err(|e| self.err(e))
        })*
    };
}

impl<'de> Deserializer<'de> for KeyDe<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.key).map_err(|e| self.err(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match crate::config::yaml::resolve_plain(self.key) {
            NodeKind::Bool(b) => visitor.visit_bool(b).map_err(|e| self.err(e)),
            _ => Err(self.err(de::Error::invalid_type(Unexpected::Str(self.key), &"a boolean"))),
        }
    }

    key_number! {
        deserialize_i8 visit_i8 i8,
        deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64,
        deserialize_u8 visit_u8 u8,
        deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64,
        deserialize_f32 visit_f32 f32,
        deserialize_f64 visit_f64 f64,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor
            .visit_enum(EnumAccess { name: self.key.to_string(), name_span: self.span, value: None })
            .map_err(|e| self.err(e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            let (key, span) = (self.key, self.span);
            let value = SpannedValue::Key(key);
            return visitor.visit_map(SpannedAccess { span, value, step: 0 });
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map
        identifier ignored_any
    }
}

/// An enum written as `variant` or `variant: value`.
struct EnumAccess<'a> {
    name: String,
    name_span: Span,
    value: Option<&'a Node>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = Error;
    type Variant = VariantAccess<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantAccess<'a>), Error> {
        let variant =
            seed.deserialize(KeyDe { key: &self.name, span: self.name_span }).map_err(|e| e.at_span(self.name_span))?;
        Ok((variant, VariantAccess { name: self.name, span: self.name_span, value: self.value }))
    }
}

struct VariantAccess<'a> {
    name: String,
    span: Span,
    value: Option<&'a Node>,
}

impl VariantAccess<'_> {
    fn needs_value(&self) -> Error {
        Error::new(format!("`{}` needs a value: write `{}: …`", self.name, self.name)).at_span(self.span)
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            Some(node) if !node.is_null() => Err(Error::new(format!("`{}` takes no value", self.name)).at(node)),
            _ => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.value {
            Some(node) => located(node, seed.deserialize(NodeDe(node))),
            None => Err(self.needs_value()),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(node) => NodeDe(node).deserialize_seq(visitor),
            None => Err(self.needs_value()),
        }
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(node) => NodeDe(node).visit_struct(&format!("`{}`", self.name), visitor),
            None => Err(self.needs_value()),
        }
    }
}

/// The private struct name through which [`Spanned`] asks for a value and its span.
const SPANNED: &str = "$__suite_config_Spanned";
const SPANNED_FIELDS: &[&str] = &["$source", "$offset", "$line", "$col", "$len", "$value"];
/// The private struct name through which [`Node`] asks for the raw node.
const RAW_NODE: &str = "$__suite_config_Node";

thread_local! {
    /// Hands a node to [`Node`]'s visitor: serde's data model cannot carry it otherwise.
    static STASH: RefCell<Option<Node>> = const { RefCell::new(None) };
}

/// Feeds [`Spanned`]'s visitor the span fields, then the value.
struct SpannedAccess<'a> {
    span: Span,
    value: SpannedValue<'a>,
    step: usize,
}

/// What a [`Spanned`] wraps: a value, or a mapping key.
enum SpannedValue<'a> {
    Node(&'a Node),
    Key(&'a str),
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match SPANNED_FIELDS.get(self.step) {
            Some(field) => seed.deserialize(StrDeserializer::<Error>::new(field)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let span = self.span;
        let number = match self.step {
            0 => Some(span.source.index() as u64),
            1 => Some(span.offset as u64),
            2 => Some(span.line as u64),
            3 => Some(span.col as u64),
            4 => Some(span.len as u64),
            _ => None,
        };
        self.step += 1;
        match (number, &self.value) {
            (Some(n), _) => seed.deserialize(U64Deserializer::<Error>::new(n)),
            (None, SpannedValue::Node(node)) => located(node, seed.deserialize(NodeDe(node))),
            (None, SpannedValue::Key(key)) => seed.deserialize(KeyDe { key, span }).map_err(|e| e.at_span(span)),
        }
    }
}

/// A value with the span of the text it was read from.
///
/// Only [`from_node`] can produce one; comparisons and hashing look at the value only.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps a value with a span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    /// The value, without its span.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Transforms the value, keeping the span.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned { value: f(self.value), span: self.span }
    }
}

/// The default value at a span that points nowhere (for values built in code).
impl<T: Default> Default for Spanned<T> {
    fn default() -> Self {
        Spanned { value: T::default(), span: Span::default() }
    }
}

impl<T> Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Spanned<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Spanned<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value read from a config file")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                let mut numbers = [0u64; 5];
                for (i, slot) in numbers.iter_mut().enumerate() {
                    match map.next_key::<String>()? {
                        Some(key) if key == SPANNED_FIELDS[i] => *slot = map.next_value()?,
                        _ => return Err(de::Error::custom("`Spanned` can only be read with config::from_node")),
                    }
                }
                if map.next_key::<String>()?.as_deref() != Some(SPANNED_FIELDS[5]) {
                    return Err(de::Error::custom("`Spanned` can only be read with config::from_node"));
                }
                let value = map.next_value()?;
                let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
                let span = Span {
                    source: SourceId::from_index(to_usize(numbers[0])),
                    offset: to_usize(numbers[1]),
                    line: to_usize(numbers[2]),
                    col: to_usize(numbers[3]),
                    len: to_usize(numbers[4]),
                };
                Ok(Spanned { value, span })
            }
        }

        deserializer.deserialize_struct(SPANNED, SPANNED_FIELDS, SpannedVisitor(PhantomData))
    }
}

/// Reads the raw subtree (with all its spans) when read through [`from_node`].
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value read from a config file")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                STASH
                    .with(|stash| stash.borrow_mut().take())
                    .ok_or_else(|| E::custom("a raw config node can only be read with config::from_node"))
            }
        }

        deserializer.deserialize_struct(RAW_NODE, &[], NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::Sources;
    use crate::config::yaml::parse_config;
    use std::collections::BTreeMap;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Execution {
        concurrency: Option<u32>,
        hold_for: Option<String>,
        scenario: Spanned<String>,
        #[serde(default)]
        criteria: Vec<Spanned<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Root {
        execution: Vec<Execution>,
        #[serde(default)]
        modules: BTreeMap<String, Node>,
    }

    fn load(text: &str) -> (Sources, Node) {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("suites/demo_criteria.yaml"), text.to_string());
        let root = parse_config(&sources, id).unwrap().docs.remove(0);
        (sources, root)
    }

    fn error<T: DeserializeOwned>(text: &str) -> (Sources, Diagnostic) {
        let (sources, root) = load(text);
        match from_node::<T>(&root) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => (sources, e),
        }
    }

    #[test]
    fn reads_typed_values_with_spans_and_raw_nodes() {
        let (sources, root) = load(
            "execution:\n- concurrency: 10\n  hold-for: 1m\n  scenario: home\n  criteria: ['avg-rt>150ms']\nmodules:\n  jmeter: {properties: {a: 1}}\n",
        );
        let parsed: Root = from_node(&root).unwrap();
        let exec = &parsed.execution[0];
        assert_eq!(exec.concurrency, Some(10));
        assert_eq!(*exec.scenario, "home");
        assert_eq!((exec.scenario.span.line, exec.scenario.span.col), (4, 13));
        assert_eq!(sources.slice(exec.criteria[0].span), "'avg-rt>150ms'");
        let jmeter = &parsed.modules["jmeter"];
        assert_eq!(jmeter.pointer(["properties", "a"]).and_then(Node::as_i64), Some(1));
        assert_eq!(jmeter.span.line, 7, "a raw node keeps its spans");
    }

    #[test]
    fn strings_accept_scalars_as_written_numbers_do_not_accept_strings() {
        #[derive(Deserialize)]
        struct S {
            label: String,
            ratio: String,
            flag: String,
            port: u16,
        }
        let (_, root) = load("label: 200\nratio: 1.50\nflag: yes\nport: 8080\n");
        let s: S = from_node(&root).unwrap();
        assert_eq!((s.label.as_str(), s.ratio.as_str(), s.flag.as_str(), s.port), ("200", "1.50", "yes", 8080));

        let (sources, err) = error::<S>("label: a\nratio: b\nflag: c\nport: '8080'\n");
        assert_eq!(
            err.one_line(&sources),
            "suites/demo_criteria.yaml:4:7: error: expected a whole number (0 or more), found a string `8080`"
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let (sources, err) = error::<Root>("execution:\n- concurrency: ten\n  scenario: s\n");
        assert_eq!(
            err.render(&sources),
            "error: expected a whole number (0 or more), found a string `ten`
  --> suites/demo_criteria.yaml:2:16
   |
 2 | - concurrency: ten
   |                ^^^
"
        );
        let (sources, err) = error::<Root>("execution: {concurrency: 1}\n");
        assert_eq!(err.one_line(&sources), "suites/demo_criteria.yaml:1:12: error: expected a list, found a mapping");
    }

    #[test]
    fn unknown_key_points_at_the_key_with_a_suggestion() {
        let (sources, err) = error::<Root>("execution:\n- concurrency: 10\n  scenario: s\n  hold_for: 10s\n");
        assert_eq!(
            err.render(&sources),
            "error: unknown key `hold_for` in an execution
  --> suites/demo_criteria.yaml:4:3
   |
 4 |   hold_for: 10s
   |   ^^^^^^^^
   = help: did you mean `hold-for`?
"
        );
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Config {
            execution: Vec<Execution>,
        }
        let (sources, err) = error::<Config>("execution: []\nexecutoin: []\n");
        assert_eq!(
            err.one_line(&sources),
            "suites/demo_criteria.yaml:2:1: error: unknown key `executoin` at the top level"
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `execution`?"));
        let (_, err) = error::<Root>("execution:\n- scenario: s\n  zzz: 1\n");
        assert_eq!(err.help.as_deref(), Some("known keys are `concurrency`, `hold-for`, `scenario` or `criteria`"));
    }

    #[test]
    fn missing_key_points_at_the_mapping() {
        let (sources, err) = error::<Root>("execution:\n- concurrency: 10\n  hold-for: 1m\n");
        assert_eq!(
            err.render(&sources),
            "error: missing key `scenario` in an execution
  --> suites/demo_criteria.yaml:2:3
   |
 2 | - concurrency: 10
   |   ^^^^^^^^^^^^^^^
"
        );
    }

    #[test]
    fn custom_errors_point_at_their_field() {
        fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            let text = String::deserialize(d)?;
            crate::config::duration::parse_secs(&text).map_err(de::Error::custom)
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct S {
            #[serde(deserialize_with = "secs")]
            timeout: f64,
        }
        let (sources, err) = error::<S>("timeout: 10x\n");
        assert_eq!(
            err.one_line(&sources),
            "suites/demo_criteria.yaml:1:10: error: `10x` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`"
        );
    }

    #[test]
    fn enums_and_their_errors() {
        #[derive(Debug, Deserialize, PartialEq)]
        #[serde(rename_all = "kebab-case")]
        enum Kind {
            Local,
            Remote { host: String },
        }
        #[derive(Debug, Deserialize)]
        struct S {
            kind: Vec<Kind>,
        }
        let (_, root) = load("kind: [local, {remote: {host: h}}]\n");
        let s: S = from_node(&root).unwrap();
        assert_eq!(s.kind, [Kind::Local, Kind::Remote { host: "h".into() }]);
        let (sources, err) = error::<S>("kind: [lokal]\n");
        assert_eq!(
            err.one_line(&sources),
            "suites/demo_criteria.yaml:1:8: error: unknown value `lokal`, expected `local` or `remote`"
        );
        assert_eq!(err.help.as_deref(), Some("did you mean `local`?"));
        let (sources, err) = error::<S>("kind: [{remote: {hots: h}}]\n");
        assert_eq!(err.one_line(&sources), "suites/demo_criteria.yaml:1:17: error: missing key `host` in `remote`");
    }

    #[test]
    fn nulls_read_as_empty_collections_and_none() {
        #[derive(Debug, Deserialize)]
        struct S {
            list: Vec<u32>,
            map: BTreeMap<u16, String>,
            opt: Option<u32>,
        }
        let (_, root) = load("list:\nmap: {200: ok}\nopt:\n");
        let s: S = from_node(&root).unwrap();
        assert!(s.list.is_empty());
        assert_eq!(s.map[&200], "ok");
        assert_eq!(s.opt, None);
    }

    #[test]
    fn substituted_values_carry_their_note() {
        let (sources, mut root) = load("execution:\n- concurrency: ${C}\n  scenario: s\n");
        let lookup = |name: &str| (name == "C").then(|| "many".to_string());
        let mut sources = sources;
        crate::config::env::substitute(&mut root, &[], &lookup, &mut sources, &mut Vec::new());
        let err = from_node::<Root>(&root).unwrap_err();
        assert_eq!(
            err.render(&sources),
            "error: expected a whole number (0 or more), found a string `many`
  --> suites/demo_criteria.yaml:2:16
   |
 2 | - concurrency: ${C}
   |                ^^^^
   = note: `${C}` was substituted from the environment
"
        );
    }

    #[test]
    fn error_inside_a_quoted_criterion_string() {
        let (sources, root) =
            load("criteria:\n  - \"avg-rt of home>150ms fr 10s, stop as failed\"\n  - avg-rt>1s fr 5s\n");
        #[derive(Deserialize)]
        struct S {
            criteria: Vec<Spanned<String>>,
        }
        let s: S = from_node(&root).unwrap();
        for criterion in &s.criteria {
            // A criteria parser reports a byte range of the criterion text…
            let at = criterion.find("fr").unwrap();
            let span = sources.inner_span(criterion.span, criterion, at, 2);
            let d = Diagnostic::error(span, "expected `for`, `within` or `over` after the threshold, found `fr`")
                .with_help("did you mean `for`?");
            assert_eq!(sources.slice(span), "fr");
            if criterion.span.line == 2 {
                assert_eq!(
                    d.render(&sources),
                    "error: expected `for`, `within` or `over` after the threshold, found `fr`
  --> suites/demo_criteria.yaml:2:27
   |
 2 |   - \"avg-rt of home>150ms fr 10s, stop as failed\"
   |                           ^^
   = help: did you mean `for`?
"
                );
            }
        }
    }

    #[test]
    fn mapping_keys_can_be_spanned() {
        let (sources, root) = load("scenarios:\n  home: {timeout: 5s}\n  200: {timeout: 1s}\n");
        #[derive(Deserialize)]
        struct S {
            scenarios: indexmap::IndexMap<Spanned<String>, Node>,
        }
        let s: S = from_node(&root).unwrap();
        let keys: Vec<(&str, &str)> = s.scenarios.keys().map(|k| (k.as_str(), sources.slice(k.span))).collect();
        assert_eq!(keys, [("home", "home"), ("200", "200")]);
    }

    #[test]
    fn spanned_outside_the_config_deserializer_is_an_error() {
        let result: Result<Spanned<String>, _> = serde_json::from_str("\"x\"");
        assert!(result.is_err());
        let result: Result<Node, _> = serde_json::from_str("{}");
        assert!(result.is_err());
    }
}
