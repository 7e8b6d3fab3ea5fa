//! Values of the Taurus model that are more than a string, a bool or a plain number: each checks
//! itself once, when the config is read, so the planner gets it typed and an error points at it.
//!
//! As everywhere in the model, numbers are strict: `iterations: '10'` is an error, while a time
//! value, which Taurus writes as text, also takes a plain number of seconds. Their errors start
//! with the key they were read under (`` `hold-for`: `ten` is not a time value ``): each asks the
//! config deserializer for that through a private newtype name, as `Spanned` asks for its span.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

use super::duration::{parse_secs, within_limit};
use super::node::{Node, NodeKind};

/// The private newtype name through which a value asks for its key in front of its errors.
pub(super) const KEYED: &str = "$__suite_config_Keyed";

/// The private struct name through which [`OneOrMany`] asks the config deserializer for a list.
pub(super) const ONE_OR_MANY: &str = "$__suite_config_OneOrMany";

/// `impl Deserialize` for a value type whose errors name their key: `$read` reads the value from
/// the deserializer of the value itself.
macro_rules! keyed {
    ($ty:ty, $read:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct KeyedVisitor;

                impl<'de> Visitor<'de> for KeyedVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(stringify!($ty))
                    }

                    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<$ty, D::Error> {
                        let read: fn(D) -> Result<$ty, D::Error> = $read;
                        read(d)
                    }
                }

                deserializer.deserialize_newtype_struct(KEYED, KeyedVisitor)
            }
        }
    };
}

/// A Taurus time value (`10s`, `1m30s`, `250ms`, or a number of seconds), finite and not negative.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeValue(pub Duration);

impl TimeValue {
    /// Reads the text of a time value; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_secs(parse_secs(text).map_err(|e| e.to_string())?, text)
    }

    fn from_secs(secs: f64, text: &str) -> Result<Self, String> {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(format!("`{text}` is not a finite, non-negative time value"));
        }
        // A time written as a number skips the text parser: the same limit applies.
        let secs = within_limit(secs, text).map_err(|e| e.to_string())?;
        Ok(TimeValue(Duration::from_secs_f64(secs)))
    }
}

keyed!(TimeValue, |d| {
    let node = Node::deserialize(d)?;
    match (&node.kind, node.as_f64()) {
        (NodeKind::Str(text), _) => TimeValue::parse(text),
        (_, Some(secs)) => TimeValue::from_secs(secs, &node.to_string()),
        _ => Err(format!("expected a time value like `30s`, `1m30s` or `250ms`, found {}", node.describe())),
    }
    .map_err(de::Error::custom)
});

/// A whole number, 0 or more: iterations, steps, users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count(pub u64);

keyed!(Count, |d| u64::deserialize(d).map(Count));

/// An amount of memory: a number of bytes, or a number with a unit (`512KB`, `4MB`, `1GB`; powers
/// of 1024, as `KiB`, `MiB`, `GiB` may also be written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Reads the text of a size; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (number, unit) = (&t[..split], t[split..].trim());
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            _ => return Err(format!("`{text}` is not a size: write bytes, or e.g. `512KB`, `4MB`, `1GB`")),
        };
        match number.parse::<f64>() {
            Ok(n) if (n * scale as f64) < u64::MAX as f64 => Ok(ByteSize((n * scale as f64) as u64)),
            _ => Err(format!("`{text}` is not a size: write bytes, or e.g. `512KB`, `4MB`, `1GB`")),
        }
    }
}

keyed!(ByteSize, |d| {
    let node = Node::deserialize(d)?;
    match &node.kind {
        NodeKind::Int(n) => {
            u64::try_from(*n).map(ByteSize).map_err(|_| format!("a size cannot be negative, found `{n}`"))
        }
        NodeKind::Str(text) => ByteSize::parse(text),
        _ => Err(format!("expected a size like `4MB` or a number of bytes, found {}", node.describe())),
    }
    .map_err(de::Error::custom)
});

/// A rate such as requests per second: a finite number, 0 or more.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rate(pub f64);

keyed!(Rate, |d| match f64::deserialize(d)? {
    n if n.is_finite() && n >= 0.0 => Ok(Rate(n)),
    n => Err(de::Error::invalid_value(Unexpected::Float(n), &"a finite number, 0 or more")),
});

/// Virtual users: a whole number, or `{local: N, cloud: M}` of which `suite` runs `local`. The
/// planner, not the type, sets how many are too many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concurrency(pub u64);

keyed!(Concurrency, |d| d.deserialize_any(UsersVisitor));

struct UsersVisitor;

impl<'de> Visitor<'de> for UsersVisitor {
    type Value = Concurrency;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of virtual users, or `{local: N, cloud: M}`")
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Concurrency, E> {
        u64::try_from(n).map(Concurrency).map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Concurrency, A::Error> {
        let mut local = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "local" => local = Some(map.next_value::<u64>()?),
                _ => drop(map.next_value::<de::IgnoredAny>()?),
            }
        }
        local.map(Concurrency).ok_or_else(|| de::Error::custom("as a mapping, it needs `local: N`"))
    }
}

/// A list, or a single item standing for a list of one; nothing is an empty list.
#[derive(Clone, Debug, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T> Default for OneOrMany<T> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemsVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ItemsVisitor<T> {
            type Value = OneOrMany<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list, or one item")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }

        deserializer.deserialize_struct(ONE_OR_MANY, &[], ItemsVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::de::{from_node, Spanned};
    use crate::config::source::Sources;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct S {
        hold_for: Option<Spanned<TimeValue>>,
        concurrency: Option<Concurrency>,
        throughput: Option<Rate>,
        iterations: Option<Count>,
        max_body_seen: Option<ByteSize>,
        #[serde(default)]
        execution: OneOrMany<Node>,
    }

    fn read(text: &str) -> Result<S, String> {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yaml"), text.to_string());
        let root = parse_config(&sources, id).unwrap().docs.remove(0);
        from_node::<S>(&root).map_err(|d| d.one_line(&sources))
    }

    #[test]
    fn values_are_read_once_and_their_errors_name_the_key() {
        let s = read("hold-for: 1m30s\nconcurrency: {local: 2, cloud: 9}\nthroughput: 2.5\niterations: 3\n").unwrap();
        assert_eq!(s.hold_for.map(|t| t.0), Some(Duration::from_secs(90)));
        assert_eq!(
            (s.concurrency, s.throughput, s.iterations),
            (Some(Concurrency(2)), Some(Rate(2.5)), Some(Count(3)))
        );
        assert_eq!(read("hold-for: 2.5\n").unwrap().hold_for.map(|t| t.0), Some(Duration::from_millis(2500)));
        assert_eq!(read("hold-for:\n").unwrap().hold_for, None);
        for (yaml, error) in [
            ("hold-for: ten", "1:11: error: `hold-for`: `ten` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`"),
            ("hold-for: -3s", "1:11: error: `hold-for`: `-3s` is not a finite, non-negative time value"),
            ("hold-for: [1]", "1:11: error: `hold-for`: expected a time value like `30s`, `1m30s` or `250ms`, found a list"),
            ("concurrency: -1", "1:14: error: `concurrency`: expected a whole number of virtual users, or `{local: N, cloud: M}`, found the number `-1`"),
            ("concurrency: {local: x}", "1:22: error: `concurrency`: expected a whole number (0 or more), found a string `x`"),
            ("concurrency: {cloud: 3}", "1:14: error: `concurrency`: as a mapping, it needs `local: N`"),
            ("throughput: -5", "1:13: error: `throughput`: expected a finite number, 0 or more, found the number `-5`"),
            ("iterations: 1.5", "1:13: error: `iterations`: expected a whole number (0 or more), found the number `1.5`"),
            ("iterations: '3'", "1:13: error: `iterations`: expected a whole number (0 or more), found a string `3`"),
            ("max-body-seen: 4 megs", "1:16: error: `max-body-seen`: `4 megs` is not a size: write bytes, or e.g. `512KB`, `4MB`, `1GB`"),
            ("max-body-seen: -1", "1:16: error: `max-body-seen`: a size cannot be negative, found `-1`"),
        ] {
            assert_eq!(read(yaml).unwrap_err(), format!("t.yaml:{error}"), "{yaml}");
        }
    }

    #[test]
    fn sizes_are_bytes_or_a_number_with_a_unit() {
        let size = |yaml: &str| read(yaml).unwrap().max_body_seen.map(|s| s.0);
        assert_eq!(size("max-body-seen: 100"), Some(100));
        assert_eq!(size("max-body-seen: 512KB"), Some(512 * 1024));
        assert_eq!(size("max-body-seen: 1.5 MiB"), Some(3 << 19));
        assert_eq!(size("max-body-seen: 1gb"), Some(1 << 30));
    }

    #[test]
    fn one_or_many_reads_a_single_item_as_a_list_of_one() {
        let count = |yaml: &str| read(yaml).unwrap().execution.0.len();
        assert_eq!((count("execution: [{a: 1}, {a: 2}]"), count("execution: {a: 1}"), count("execution:")), (2, 1, 0));
    }
}
