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
//! can keep a raw subtree with its locations. Two more private names serve the value types of
//! [`crate::config::value`]: `OneOrMany` reads one item as a list of one, and a keyed newtype
//! has its errors start with the key it was read under (`` `hold-for`: … ``).

use serde::de::{self, DeserializeOwned, DeserializeSeed, Expected, Unexpected, Visitor};
use serde::Deserializer;

use crate::config::diagnostic::{list_or, Diagnostic};
use crate::config::node::{Map, Node, NodeKind};
use crate::config::source::Span;
use crate::config::value::{KEYED, ONE_OR_MANY};

mod error;
mod spanned;

pub use error::Error;
pub use spanned::Spanned;
use spanned::{SpannedAccess, SpannedValue, RAW_NODE, SPANNED, STASH};

/// Reads a typed value from a node; errors point at the value at fault.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Diagnostic> {
    T::deserialize(NodeDe(node)).map_err(|e| e.into_diagnostic(node.span))
}

/// Like [`from_node`], but a failure reports every value at fault, not only the first: each
/// error's value is set aside (an unknown key dropped, a bad value read as empty) and the node
/// read again, until the reading succeeds or an error repeats. The failure carries the value read
/// without what was set aside, if that succeeded, so that a caller can go on finding errors
/// elsewhere. Only failures pay for this.
pub fn from_node_all<T: DeserializeOwned>(node: &Node) -> Result<T, (Vec<Diagnostic>, Option<T>)> {
    /// Enough to fix a file in one go; past this the rest is noise.
    const MOST: usize = 100;
    let first = match from_node(node) {
        Ok(value) => return Ok(value),
        Err(d) => d,
    };
    let mut errors = vec![first];
    let mut tree = node.clone();
    while let Some(span) = errors.last().and_then(|d| d.span).filter(|_| errors.len() < MOST) {
        if !set_aside(&mut tree, span) {
            break;
        }
        match from_node::<T>(&tree) {
            Ok(value) => return Err((errors, Some(value))),
            Err(d) if errors.iter().any(|e| e.span == d.span) => break,
            Err(d) => errors.push(d),
        }
    }
    Err((errors, None))
}

/// Drops the mapping entry whose key is at `span`, or empties the value at `span`; false when
/// there is none (the error cannot be set aside).
fn set_aside(node: &mut Node, span: Span) -> bool {
    if node.span == span {
        node.kind = NodeKind::Null;
        return true;
    }
    match &mut node.kind {
        NodeKind::Map(map) => match map.iter().position(|(_, (key_span, _))| *key_span == span) {
            Some(i) => map.shift_remove_index(i).is_some(),
            None => map.values_mut().any(|(_, value)| set_aside(value, span)),
        },
        NodeKind::Seq(items) => items.iter_mut().any(|item| set_aside(item, span)),
        _ => false,
    }
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
        let access = MapAccess::new(map, Some(name));
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
            NodeKind::Map(map) => visitor.visit_map(MapAccess::new(map, None)),
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

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Error> {
        let result = visitor.visit_newtype_struct(self);
        located(self.0, if name == KEYED { result.map_err(Error::keyed) } else { result })
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
        located(self.0, visitor.visit_map(MapAccess::new(map, None)))
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
            ONE_OR_MANY => match &self.0.kind {
                NodeKind::Seq(items) => located(self.0, self.visit_seq(items, visitor)),
                NodeKind::Null => located(self.0, self.visit_seq(&[], visitor)),
                _ => located(self.0, self.visit_seq(std::slice::from_ref(self.0), visitor)),
            },
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
    key: &'a str,
    value: Option<&'a Node>,
    context: Option<&'a str>,
}

impl<'a> MapAccess<'a> {
    fn new(map: &'a Map, context: Option<&'a str>) -> Self {
        MapAccess { iter: map.iter(), key: "", value: None, context }
    }
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, (key_span, value))) = self.iter.next() else {
            return Ok(None);
        };
        (self.key, self.value) = (key, Some(value));
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
            Some(node) => located(node, seed.deserialize(NodeDe(node))).map_err(|e| e.under_key(self.key)),
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

#[cfg(test)]
mod tests;
