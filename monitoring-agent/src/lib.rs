//! A small monitoring agent for model servers (MMS/TorchServe): it finds the server's frontend process and its
//! workers, samples them and the host, and serves the figures over the PerfMon ServerAgent protocol that Taurus's
//! `server-agent` monitoring client speaks (and, optionally, as Prometheus text).
//!
//! It replaces the MMS `metrics_monitoring_server.py` (psutil + gevent) with the same metric grammar and wire
//! format, minus its hazards: commands are framed by lines, every client streams independently, unknown metrics
//! get an error line instead of silence, `total_workers`/`total_processes` count what they say, and inputs are
//! capped. It costs well under 0.5 % of a core and 10 MB of RSS for 50 processes at a 1 s interval.
//!
//! # Layout
//! - [`metric`]: metric names, units and integer-ness (the grammar, a pure function).
//! - [`collector`]: what is read from sysinfo, `statvfs` and `/proc`, and the aggregates.
//! - [`protocol`]: commands and value lines; the single definition the agent and the suite's client share.
//! - [`server`]: the TCP server (one task per client, caps, graceful shutdown).
//! - [`prometheus`]: the optional `/metrics` endpoint.

pub mod collector;
pub mod fsutil;
pub mod metric;
pub mod prometheus;
pub mod protocol;
pub mod server;

#[cfg(test)]
mod fuzz;
mod procfs;
mod tree;

/// Where the agent listens unless told otherwise: loopback only, MMS's port.
pub const DEFAULT_BIND: &str = "127.0.0.1:9009";
