//! A source's CSV log: `ts` and the metrics **in the order they were asked for**, the same order
//! as the values (Taurus sorts the header but not the values, so its columns lie).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// An open CSV log, flushed after every row.
pub struct Log {
    out: csv::Writer<BufWriter<File>>,
}

impl Log {
    /// Creates the file with its header.
    pub fn create(path: &Path, metrics: &[String]) -> std::io::Result<Self> {
        let mut out = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
        let mut header = vec!["ts".to_string()];
        header.extend(metrics.iter().cloned());
        out.write_record(&header)?;
        out.flush()?;
        Ok(Log { out })
    }

    /// Appends one row stamped with the current Unix second.
    pub fn write(&mut self, values: &[f64]) -> std::io::Result<()> {
        let ts = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64().round() as u64).unwrap_or(0);
        let mut row = vec![ts.to_string()];
        row.extend(values.iter().map(|v| v.to_string()));
        self.out.write_record(&row)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_value_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("SAlogs_127.0.0.1_9009.csv");
        let metrics = vec!["mem".to_string(), "cpu".to_string()];
        let mut log = Log::create(&path, &metrics).unwrap();
        log.write(&[3001.0, 1001.5]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ts,mem,cpu");
        assert!(lines[1].ends_with(",3001,1001.5"), "{}", lines[1]);
    }
}
