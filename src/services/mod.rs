//! Services with a lifecycle around the load: `shellexec` commands (prepare, startup, shutdown,
//! post-process), run in process groups so that everything they start can be stopped, and the
//! run's own `monitoring-agent` (`suite run --monit`).

pub mod agent;
pub mod shellexec;

pub use shellexec::{Shell, StageError};
