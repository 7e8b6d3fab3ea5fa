//! Helpers for the library's unit tests.

#[path = "../tests/util/shared.rs"]
mod shared_folder;

pub use shared_folder::shared;
