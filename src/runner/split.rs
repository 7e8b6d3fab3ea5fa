//! This machine's part of a run split over several: `--segment` (which share of every
//! execution it sends, see [`plan::segment`](crate::plan::segment)) and `--start-at` (the instant
//! the first test's load starts on every machine).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cli::RunArgs;
use crate::plan::segment::Segment;
use crate::report::{run_id, SegmentInfo};

/// The environment variable a Kubernetes Indexed Job sets to the pod's index (0-based).
const JOB_INDEX: &str = "JOB_COMPLETION_INDEX";

/// The split a run was asked for; empty without `--segment` and `--start-at`.
#[derive(Default)]
pub struct Split {
    /// This machine's share, if the run is split.
    pub segment: Option<Arc<Segment>>,
    /// `--start-at` as Unix seconds, and as given.
    start_at: Option<(f64, String)>,
    /// The start was waited for (only the first test waits).
    started: AtomicBool,
}

impl Split {
    /// Reads `--segment`, `--segment-sequence` and `--start-at`.
    pub fn from_args(args: &RunArgs) -> anyhow::Result<Split> {
        let segment = match &args.segment {
            None => None,
            Some(text) => {
                let text = match text.trim().strip_prefix("job/") {
                    Some(count) => {
                        let index = std::env::var(JOB_INDEX).map_err(|_| {
                            anyhow::anyhow!("--segment {text}: the environment has no {JOB_INDEX} (set by a Kubernetes Indexed Job)")
                        })?;
                        let index: u64 = index
                            .trim()
                            .parse()
                            .map_err(|_| anyhow::anyhow!("--segment {text}: {JOB_INDEX} is `{index}`, not a number"))?;
                        format!("{}/{count}", index + 1)
                    }
                    None => text.clone(),
                };
                let segment = Segment::parse(&text, args.segment_sequence.as_deref())
                    .map_err(|e| anyhow::anyhow!("--segment {text}: {e}"))?;
                Some(Arc::new(segment))
            }
        };
        let start_at = match &args.start_at {
            None => None,
            Some(text) => {
                let at = run_id::parse_rfc3339(text).ok_or_else(|| {
                    anyhow::anyhow!("--start-at `{text}` is not an RFC 3339 time: write e.g. `2026-12-05T15:00:00Z`")
                })?;
                Some((at, text.trim().to_string()))
            }
        };
        Ok(Split { segment, start_at, started: AtomicBool::new(false) })
    }

    /// What `run.json` records of the segment: its share, and a digest of what ran (`files`:
    /// every test's config files) that segments of one run share.
    pub fn info(&self, args: &RunArgs, files: &[Vec<PathBuf>]) -> Option<SegmentInfo> {
        let segment = self.segment.as_ref()?;
        let mut digest = Fnv::default();
        for f in files.iter().flatten() {
            digest.add(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            digest.add(&std::fs::read(f).unwrap_or_default());
        }
        for o in &args.selection.overrides {
            digest.add(o.as_bytes());
        }
        digest.add(args.selection.env_name.as_deref().unwrap_or_default().as_bytes());
        let (_, sequence) = segment.k6_args();
        Some(SegmentInfo {
            index: segment.index + 1,
            count: segment.count(),
            share: segment.to_string(),
            sequence,
            suite: format!("{:016x}", digest.0),
            start_at: self.start_at.as_ref().map(|(_, text)| text.clone()),
        })
    }

    /// Waits for `--start-at` before the first test's load (later tests start when the one
    /// before ends); returns at once for the others, or when `interrupted` fires.
    pub async fn wait_for_start(&self, interrupted: impl std::future::Future<Output = ()>) {
        let Some((at, text)) = &self.start_at else { return };
        if self.started.swap(true, Ordering::Relaxed) {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        if *at <= now {
            if now - at > 1.0 {
                crate::errln!("warning: --start-at {text} was {:.1} s ago: this segment starts late", now - at);
            }
            return;
        }
        crate::outln!("waiting until {text} to start the load ({:.1} s)", at - now);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(at - now)) => {}
            _ = interrupted => {}
        }
    }
}

/// FNV-1a, 64 bits: a stable digest (the same on every machine and build) of a few files.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(&[0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
