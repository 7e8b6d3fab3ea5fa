//! Integration tests: the real `suite` and `demo-target` binaries, real servers on 127.0.0.1.

mod util;

mod bad_input;
mod criteria_timing;
mod figures;
mod hostile_labels;
mod http_wire;
mod lifecycle;
mod memory;
mod monitoring;
mod open_model;
mod reports;
mod scenario;
mod secrets;
mod shipped;
mod validate;
