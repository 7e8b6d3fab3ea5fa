//! Where virtual users leave finished samples until aggregation takes them.
//!
//! A channel would wake the aggregating thread once per sample; at tens of thousands of
//! requests a second those wake-ups cost more CPU than the requests. Instead each worker thread
//! appends to its own mutex-guarded buffer (uncontended: one thread per shard) and the runner
//! drains every buffer a few times a second and before each second closes.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::sample::Sample;

/// Sharded sample buffers.
pub struct Recorder {
    shards: Box<[Mutex<Vec<Sample>>]>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// One shard per available core, doubled so that threads rarely share one.
    pub fn new() -> Self {
        let n = std::thread::available_parallelism().map_or(4, |n| n.get()) * 2;
        Recorder { shards: (0..n).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// Keeps a sample until the next drain.
    pub fn record(&self, sample: Sample) {
        lock(&self.shards[shard_of_this_thread() % self.shards.len()]).push(sample);
    }

    /// Moves every buffered sample into `into` (in no particular order across threads).
    pub fn drain(&self, into: &mut Vec<Sample>) {
        for shard in &self.shards {
            into.append(&mut lock(shard));
        }
    }
}

/// A shard survives a panicking holder: samples are plain data, never half-written.
fn lock(shard: &Mutex<Vec<Sample>>) -> MutexGuard<'_, Vec<Sample>> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A small number fixed per thread, handed out in the order threads first record.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SHARD.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        s.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: u32) -> Sample {
        Sample { label, ..Sample::fake(1, 200) }
    }

    #[test]
    fn every_sample_from_every_thread_is_drained_once() {
        let r = std::sync::Arc::new(Recorder::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| r.record(sample(t))))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut all = Vec::new();
        r.drain(&mut all);
        assert_eq!(all.len(), 4000);
        for t in 0..4 {
            assert_eq!(all.iter().filter(|s| s.label == t).count(), 1000);
        }
        let mut again = Vec::new();
        r.drain(&mut again);
        assert!(again.is_empty());
    }
}
