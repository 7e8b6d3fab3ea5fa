//! Integration tests: the real `suite` and `demo-target` binaries, real servers on 127.0.0.1.

mod util;

mod bad_input;
mod baseline;
mod capacity;
mod config_hardening;
mod criteria_timing;
mod figures;
mod fuzz;
mod grpc;
mod hardening;
mod hostile_labels;
mod http_wire;
mod jmx;
mod jmx2yaml;
mod jmx_corpus;
mod jmx_fuzz;
mod jmx_run;
mod k6;
mod k8s;
mod lifecycle;
mod locust;
mod matrix;
mod memory;
mod mms_corpus;
mod monitoring;
mod open_model;
mod prometheus;
mod reports;
mod run_hardening;
mod scenario;
mod secrets;
mod shipped;
mod streaming;
mod templates;
mod validate;
