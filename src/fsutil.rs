//! Reading the files a user names (test files, includes, body files, uploads, data sources and
//! JMeter plans): the agent's reader (regular files only, under a cap, errors naming the file),
//! with suite's caps.

pub use monitoring_agent::fsutil::{read_regular, ReadError};

/// Largest config file read (a Taurus test file is a few KiB; a generated one may be larger).
pub const CONFIG_CAP: u64 = 16 * 1024 * 1024;
/// Largest file a scenario names (body file, upload, data source): each is held in memory for
/// the whole test.
pub const DATA_CAP: u64 = 256 * 1024 * 1024;
