//! [`Spanned<T>`]: a value with its span, and the raw [`Node`] as a value; both are read through
//! private struct names that the config deserializer recognizes.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use serde::de::value::{StrDeserializer, U64Deserializer};
use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{located, Error, KeyDe, NodeDe};
use crate::config::node::Node;
use crate::config::source::{SourceId, Span};

/// The private struct name through which [`Spanned`] asks for a value and its span.
pub(super) const SPANNED: &str = "$__suite_config_Spanned";
const SPANNED_FIELDS: &[&str] = &["$source", "$offset", "$line", "$col", "$len", "$value"];
/// The private struct name through which [`Node`] asks for the raw node.
pub(super) const RAW_NODE: &str = "$__suite_config_Node";

thread_local! {
    /// Hands a node to [`Node`]'s visitor: serde's data model cannot carry it otherwise.
    pub(super) static STASH: RefCell<Option<Node>> = const { RefCell::new(None) };
}

/// Feeds [`Spanned`]'s visitor the span fields, then the value.
pub(super) struct SpannedAccess<'a> {
    pub(super) span: Span,
    pub(super) value: SpannedValue<'a>,
    pub(super) step: usize,
}

/// What a [`Spanned`] wraps: a value, or a mapping key.
pub(super) enum SpannedValue<'a> {
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
