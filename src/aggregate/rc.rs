//! Response-code counts kept without text. `KpiSet::record` runs once per request, so counting a
//! code must not allocate: codes are kept as a status number or an error kind and spelled as
//! Taurus spells them (`"200"`, `"ConnectionReset"`, `"0"`) only where reports and criteria read them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::sample::{grpc_code_name, ErrorKind, Sample, GRPC_STATUS};

/// One response code, as Taurus names it (the test helper `Sample::rc` spells it out plainly).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// An HTTP status (never 0).
    Status(u16),
    /// A gRPC status code (0 to 16), spelled by name (`OK`, `UNAVAILABLE`).
    Grpc(u16),
    /// No response; the error kind is the code (`ConnectionReset`, `Timeout`, ...).
    Kind(ErrorKind),
    /// No response and no error kind: `"0"`.
    Zero,
    /// A code read back from a file that none of the above spells, kept as written.
    Other(Box<str>),
}

impl Code {
    /// The code of a sample, without allocating.
    pub fn of(sample: &Sample) -> Code {
        match (sample.status, sample.error_kind) {
            (0, Some(kind)) => Code::Kind(kind),
            (0, None) => Code::Zero,
            (status, _) => match status.checked_sub(GRPC_STATUS) {
                Some(code) if grpc_code_name(code).is_some() => Code::Grpc(code),
                _ => Code::Status(status),
            },
        }
    }

    /// Reads a code as written by [`Code::text`]; `parse(c.text()) == c` for every code.
    pub fn parse(text: &str) -> Code {
        if text == "0" {
            return Code::Zero;
        }
        // Only the canonical spelling is a status: "0200" stays text, or it would not round-trip.
        if let Ok(status) = text.parse::<u16>() {
            if status != 0 && !text.starts_with(['0', '+']) {
                return Code::Status(status);
            }
        }
        if let Some(code) = (0..=16).find(|c| grpc_code_name(*c) == Some(text)) {
            return Code::Grpc(code);
        }
        match ErrorKind::ALL.iter().find(|k| k.rc_name() == text) {
            Some(kind) => Code::Kind(*kind),
            None => Code::Other(text.into()),
        }
    }

    /// The code as Taurus writes it.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Code::Status(status) => Cow::Owned(status.to_string()),
            Code::Grpc(code) => Cow::Borrowed(grpc_code_name(*code).unwrap_or("UNKNOWN")),
            Code::Kind(kind) => Cow::Borrowed(kind.rc_name()),
            Code::Zero => Cow::Borrowed("0"),
            Code::Other(text) => Cow::Borrowed(text),
        }
    }
}

/// Samples per response code. A label sees a handful of codes, so a vector searched in order is
/// faster than a map and never allocates once a code has been seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcCounts(Vec<(Code, u64)>);

impl RcCounts {
    /// Counts one sample's code.
    pub fn record(&mut self, sample: &Sample) {
        let code = Code::of(sample);
        match self.0.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.0.push((code, 1)),
        }
    }

    /// Adds `count` samples of `code` (cloned only when the code is new here).
    pub fn add(&mut self, code: &Code, count: u64) {
        match self.0.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += count,
            None => self.0.push((code.clone(), count)),
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &RcCounts) {
        for (code, count) in &other.0 {
            self.add(code, *count);
        }
    }

    /// Codes and counts, in the order first seen.
    pub fn iter(&self) -> impl Iterator<Item = (&Code, u64)> {
        self.0.iter().map(|(c, n)| (c, *n))
    }

    /// Samples whose code is spelled `text`.
    pub fn get(&self, text: &str) -> Option<u64> {
        let code = Code::parse(text);
        self.0.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
    }

    /// The counts keyed by text, sorted as the reports show them (`summary.json`, `seconds.jsonl`).
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        let mut map = BTreeMap::new();
        for (code, count) in &self.0 {
            *map.entry(code.text().into_owned()).or_default() += count;
        }
        map
    }
}

impl FromIterator<(String, u64)> for RcCounts {
    /// Counts keyed by text, as [`RcCounts::to_map`] writes them.
    fn from_iter<I: IntoIterator<Item = (String, u64)>>(iter: I) -> Self {
        let mut counts = RcCounts::default();
        for (text, count) in iter {
            counts.add(&Code::parse(&text), count);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: u16, error_kind: Option<ErrorKind>) -> Sample {
        Sample { error_kind, ..Sample::fake(1, status) }
    }

    #[test]
    fn codes_are_spelled_as_samples_spell_them_and_read_back() {
        let mut samples: Vec<Sample> = ErrorKind::ALL.iter().map(|k| sample(0, Some(*k))).collect();
        samples.extend([sample(0, None), sample(200, None), sample(404, Some(ErrorKind::Status))]);
        samples.extend([sample(200, Some(ErrorKind::Assertion)), sample(65535, None), sample(1, None)]);
        // gRPC status codes, kept above HTTP's range, are spelled by name.
        samples.extend([sample(1000, None), sample(1014, Some(ErrorKind::Status)), sample(1017, None)]);
        for s in &samples {
            let code = Code::of(s);
            assert_eq!(code.text(), s.rc(), "{s:?}");
            assert_eq!(Code::parse(&code.text()), code);
        }
        assert_eq!(
            (Code::of(&sample(1000, None)).text(), Code::of(&sample(1014, None)).text()),
            ("OK".into(), "UNAVAILABLE".into())
        );
        assert_eq!(Code::of(&sample(1017, None)), Code::Status(1017));
        for text in ["0200", "+200", "70000", "Exception", "", "-1"] {
            assert_eq!(Code::parse(text), Code::Other(text.into()));
            assert_eq!(Code::parse(text).text(), text);
        }
    }

    #[test]
    fn counts_match_a_map_keyed_by_text() {
        let mut counts = RcCounts::default();
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for s in [sample(200, None), sample(0, Some(ErrorKind::Reset)), sample(200, None), sample(0, None)] {
            counts.record(&s);
            *want.entry(s.rc()).or_default() += 1;
        }
        assert_eq!(counts.to_map(), want);
        assert_eq!(counts.get("200"), Some(2));
        assert_eq!(counts.get("ConnectionReset"), Some(1));
        assert_eq!(counts.get("404"), None);
        let back: RcCounts = want.clone().into_iter().chain([("Exception".to_string(), 3)]).collect();
        let mut merged = counts.clone();
        merged.merge(&back);
        want.insert("Exception".into(), 3);
        assert_eq!(
            merged.to_map(),
            want.iter().map(|(k, v)| (k.clone(), if k == "Exception" { 3 } else { v * 2 })).collect()
        );
    }
}
