//! The shared reference folder `../shared` beside the repository (corpus, observed Taurus runs).
//!
//! One definition for both kinds of tests: the integration tests use it as `util::shared`, the
//! library's unit tests include this file as `crate::testing::shared`.

use std::io::Write as _;
use std::path::PathBuf;

/// `../shared` beside the repository, or `None` when it is absent: the calling test then prints
/// `skipped: ../shared not found` and returns. Under `CI=true` an absent folder fails the test.
///
/// The skip line goes to the real stderr, past the test harness's capture, so a skipped test is
/// visible in a normal `cargo test` run.
pub fn shared() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if path.is_dir() {
        return Some(path);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{} not found, and CI=true: it is required", path.display());
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "skipped: ../shared not found ({test})");
    None
}
