//! Values of the Taurus model that are more than a string, a bool or a plain number: each checks
//! itself once, when the config is read, so the planner gets it typed and an error points at it.
//!
//! As everywhere in the model, numbers are strict: `iterations: '10'` is an error, while a time
//! value, which Taurus writes as text, also takes a plain number of seconds. Their errors start
//! with the key they were read under (`` `hold-for`: `ten` is not a time value ``): each asks the
//! config deserializer for that through a private newtype name, as [`Spanned`] asks for its span.
//!
//! [`Spanned`]: super::de::Spanned

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

use super::duration::parse_secs;

/// The private newtype name through which a value asks for its key in front of its errors.
pub(super) const KEYED: &str = "$__suite_config_Keyed";

/// Forwards a keyed newtype to the visitor's own `visit_*` methods.
macro_rules! keyed_newtype {
    () => {
        fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }
    };
}

/// A Taurus time value (`10s`, `1m30s`, `250ms`, or a number of seconds), finite and not negative.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeValue(pub Duration);

impl TimeValue {
    /// Reads the text of a time value; the error says what was wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_secs(parse_secs(text).map_err(|e| e.to_string())?, text)
    }

    fn from_secs(secs: f64, text: &str) -> Result<Self, String> {
        if secs.is_finite() && secs >= 0.0 {
            Ok(TimeValue(Duration::from_secs_f64(secs)))
        } else {
            Err(format!("`{text}` is not a finite, non-negative time value"))
        }
    }
}

impl<'de> Deserialize<'de> for TimeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;

        impl<'de> Visitor<'de> for TimeVisitor {
            type Value = TimeValue;

            keyed_newtype!();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time value like `30s`, `1m30s` or `250ms`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<TimeValue, E> {
                TimeValue::parse(text).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<TimeValue, E> {
                TimeValue::from_secs(n as f64, &n.to_string()).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<TimeValue, E> {
                TimeValue::from_secs(n as f64, &n.to_string()).map_err(E::custom)
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<TimeValue, E> {
                TimeValue::from_secs(n, &n.to_string()).map_err(E::custom)
            }
        }

        deserializer.deserialize_newtype_struct(KEYED, TimeVisitor)
    }
}

/// Virtual users: a whole number, or `{local: N, cloud: M}` of which `suite` runs `local`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Concurrency(pub u32);

impl<'de> Deserialize<'de> for Concurrency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConcurrencyVisitor;

        impl<'de> Visitor<'de> for ConcurrencyVisitor {
            type Value = Concurrency;

            keyed_newtype!();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of virtual users, or `{local: N, cloud: M}`")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Concurrency, E> {
                u32::try_from(n).map(Concurrency).map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Concurrency, E> {
                u32::try_from(n).map(Concurrency).map_err(|_| E::invalid_value(Unexpected::Unsigned(n), &self))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Concurrency, A::Error> {
                let mut local = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "local" {
                        local = Some(map.next_value::<u32>()?);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                local.map(Concurrency).ok_or_else(|| de::Error::custom("as a mapping, it needs `local: N`"))
            }
        }

        deserializer.deserialize_newtype_struct(KEYED, ConcurrencyVisitor)
    }
}

/// A whole number, 0 or more: iterations, steps, users.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;

            keyed_newtype!();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number (0 or more)")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Count, E> {
                u64::try_from(n).map(Count).map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Count, E> {
                Ok(Count(n))
            }
        }

        deserializer.deserialize_newtype_struct(KEYED, CountVisitor)
    }
}

/// A rate such as requests per second: a finite number, 0 or more.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;

        impl<'de> Visitor<'de> for RateVisitor {
            type Value = Rate;

            keyed_newtype!();

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a finite number, 0 or more")
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                self.visit_f64(n as f64)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Rate, E> {
                self.visit_f64(n as f64)
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Rate, E> {
                if n.is_finite() && n >= 0.0 {
                    Ok(Rate(n))
                } else {
                    Err(E::invalid_value(Unexpected::Float(n), &self))
                }
            }
        }

        deserializer.deserialize_newtype_struct(KEYED, RateVisitor)
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

/// The private struct name through which [`OneOrMany`] asks the config deserializer for a list.
pub(super) const ONE_OR_MANY: &str = "$__suite_config_OneOrMany";

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
    use crate::config::Node;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct S {
        hold_for: Option<Spanned<TimeValue>>,
        concurrency: Option<Concurrency>,
        throughput: Option<Rate>,
        iterations: Option<Count>,
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
    fn time_values_are_taurus_times_or_seconds() {
        let secs = |text: &str| read(text).unwrap().hold_for.map(|t| t.0.as_secs_f64());
        assert_eq!(secs("hold-for: 1m30s\n"), Some(90.0));
        assert_eq!(secs("hold-for: 2.5\n"), Some(2.5));
        assert_eq!(secs("hold-for:\n"), None);
        assert_eq!(
            read("hold-for: ten\n").unwrap_err(),
            "t.yaml:1:11: error: `hold-for`: `ten` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`"
        );
        assert_eq!(
            read("hold-for: -3s\n").unwrap_err(),
            "t.yaml:1:11: error: `hold-for`: `-3s` is not a finite, non-negative time value"
        );
        assert_eq!(
            read("hold-for: [1]\n").unwrap_err(),
            "t.yaml:1:11: error: `hold-for`: expected a time value like `30s`, `1m30s` or `250ms`, found a list"
        );
    }

    #[test]
    fn concurrency_is_a_number_or_local_and_cloud() {
        assert_eq!(read("concurrency: 5\n").unwrap().concurrency, Some(Concurrency(5)));
        assert_eq!(read("concurrency: {local: 2, cloud: 9}\n").unwrap().concurrency, Some(Concurrency(2)));
        assert_eq!(
            read("concurrency: -1\n").unwrap_err(),
            "t.yaml:1:14: error: `concurrency`: expected a whole number of virtual users, or `{local: N, cloud: M}`, found the number `-1`"
        );
        assert_eq!(
            read("concurrency: {local: x}\n").unwrap_err(),
            "t.yaml:1:22: error: `concurrency`: expected a whole number (0 or more), found a string `x`"
        );
        assert_eq!(
            read("concurrency: {cloud: 3}\n").unwrap_err(),
            "t.yaml:1:14: error: `concurrency`: as a mapping, it needs `local: N`"
        );
    }

    #[test]
    fn rates_are_finite_and_not_negative() {
        assert_eq!(read("throughput: 2.5\n").unwrap().throughput, Some(Rate(2.5)));
        assert_eq!(
            read("throughput: -5\n").unwrap_err(),
            "t.yaml:1:13: error: `throughput`: expected a finite number, 0 or more, found the number `-5`"
        );
    }

    #[test]
    fn counts_are_whole_and_not_negative() {
        assert_eq!(read("iterations: 3\n").unwrap().iterations, Some(Count(3)));
        assert_eq!(
            read("iterations: 1.5\n").unwrap_err(),
            "t.yaml:1:13: error: `iterations`: expected a whole number (0 or more), found the number `1.5`"
        );
        assert_eq!(
            read("iterations: '3'\n").unwrap_err(),
            "t.yaml:1:13: error: `iterations`: expected a whole number (0 or more), found a string `3`"
        );
    }

    #[test]
    fn one_or_many_reads_a_single_item_as_a_list_of_one() {
        assert_eq!(read("execution: [{a: 1}, {a: 2}]\n").unwrap().execution.0.len(), 2);
        assert_eq!(read("execution: {a: 1}\n").unwrap().execution.0.len(), 1);
        assert_eq!(read("execution:\n").unwrap().execution.0.len(), 0);
    }
}
