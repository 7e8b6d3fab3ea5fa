//! `monitoring.jsonl`: every monitoring sample, and every source that became unavailable.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_lines, Lines};
use crate::report::timeline::{MonitorSeries, Monitoring};
use crate::report::Error;

/// One line of `monitoring.jsonl`.
#[derive(Serialize, Deserialize)]
struct MonitorRecord {
    /// Seconds since the load started.
    ts: f64,
    source: String,
    /// Metric values in the order asked for; `null` for a value that is not a number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    values: Vec<(String, Option<f64>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

/// Streams monitoring events to `monitoring.jsonl`.
pub struct MonitoringLog(Lines);

impl MonitoringLog {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, Error> {
        Lines::create(path).map(MonitoringLog)
    }

    /// Appends one source's values at `ts` (seconds since the load started).
    pub fn sample(&mut self, ts: f64, source: &str, values: &[(String, f64)]) -> Result<(), Error> {
        let values = values.iter().map(|(m, v)| (m.clone(), v.is_finite().then_some(*v))).collect();
        self.0.write(&MonitorRecord { ts, source: source.to_string(), values, unavailable: None })
    }

    /// Records that a source became unavailable.
    pub fn unavailable(&mut self, ts: f64, source: &str, reason: &str) -> Result<(), Error> {
        let record =
            MonitorRecord { ts, source: source.to_string(), values: Vec::new(), unavailable: Some(reason.to_string()) };
        self.0.write(&record)
    }
}

/// Reads `monitoring.jsonl` into one series per source and metric.
pub(super) fn read(path: &Path, notes: &mut Vec<String>) -> Result<Monitoring, Error> {
    let (_, records) = read_lines::<MonitorRecord>(path, notes)?;
    let mut order: Vec<(String, String)> = Vec::new();
    let mut values: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    let mut unavailable: Vec<(String, String)> = Vec::new();
    for (_, record) in records {
        if let Some(reason) = record.unavailable {
            if !unavailable.iter().any(|(s, _)| *s == record.source) {
                unavailable.push((record.source.clone(), reason));
            }
        }
        for (metric, value) in record.values {
            let key = (record.source.clone(), metric);
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            values.entry(key).or_default().push((record.ts, value.unwrap_or(f64::NAN)));
        }
    }
    let series = order
        .into_iter()
        .map(|key| {
            let v = values.get(&key).map(Vec::as_slice).unwrap_or_default();
            MonitorSeries::from_values(&key.0, &key.1, v)
        })
        .collect();
    Ok(Monitoring { series, unavailable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::store::MONITORING_FILE;

    #[test]
    fn monitoring_round_trips_with_unavailable_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MONITORING_FILE);
        let mut log = MonitoringLog::create(&path).unwrap();
        log.sample(1.0, "demo", &[("cpu".into(), 10.0), ("mem".into(), f64::NAN)]).unwrap();
        log.sample(2.0, "demo", &[("cpu".into(), 30.0), ("mem".into(), 5.0)]).unwrap();
        log.unavailable(2.5, "other", "cannot connect").unwrap();
        let mut notes = Vec::new();
        let m = read(&path, &mut notes).unwrap();
        assert_eq!(m.series.len(), 2);
        assert_eq!((m.series[0].metric.as_str(), m.series[0].mean), ("cpu", Some(20.0)));
        assert_eq!(m.series[1].samples, 1);
        assert_eq!(m.unavailable, vec![("other".to_string(), "cannot connect".to_string())]);
    }
}
