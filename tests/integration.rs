//! Integration tests: the real `suite` and `demo-target` binaries, real servers on 127.0.0.1.

mod util;

mod bad_input;
mod config_hardening;
mod criteria_timing;
mod fuzz;
mod hardening;
mod http_wire;
mod jmx;
mod jmx_corpus;
mod jmx_fuzz;
mod lifecycle;
mod monitoring;
mod open_model;
mod reports;
mod run_hardening;
mod scenario;
mod shipped;
mod validate;
