//! The console writer: everything `suite` prints on stdout goes through [`print()`] (the [`out!`](crate::out!)
//! and [`outln!`](crate::outln!) macros), and on stderr through [`eprint()`] ([`errln!`](crate::errln!)),
//! so an output that closes early (`suite run | head -2`, `suite run 2>&1 | head`) stops the
//! printing, never the run: the load, the services' shutdown and every file are still done, and
//! the exit code is still the run's verdict.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with EPIPE, and `println!` panics on
//! it. Here the first failed write (EPIPE, or any other error: the console is never worth
//! stopping a run for) turns printing off for the rest of the process.

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout could not be written.
static CLOSED: AtomicBool = AtomicBool::new(false);
/// Set once stderr could not be written.
static ERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; after a failed write, does nothing.
pub fn print(args: fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if stdout.write_fmt(args).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes to stderr; after a failed write, does nothing.
pub fn eprint(args: fmt::Arguments<'_>) {
    if ERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if std::io::stderr().lock().write_fmt(args).is_err() {
        ERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout was found closed (or broken) and printing stopped.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// `print!` through [`print()`]: never panics when stdout is closed.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!($($arg)*))
    };
}

/// `println!` through [`print()`]: never panics when stdout is closed.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` through [`eprint()`]: never panics when stderr is closed.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::eprint(format_args!($($arg)*))
    };
}

/// `eprintln!` through [`eprint()`]: never panics when stderr is closed.
#[macro_export]
macro_rules! errln {
    () => {
        $crate::output::eprint(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::eprint(format_args!("{}\n", format_args!($($arg)*)))
    };
}
