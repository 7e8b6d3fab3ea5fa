//! Reading a file a user names (the agent's frontend pid file; suite's test files, includes,
//! bodies, uploads and data sources): only regular files, and only up to a size cap, so a FIFO,
//! `/dev/zero` or a runaway file gives a clear error naming the file instead of a hang or a full
//! memory. suite uses this module as its own (`suite::fsutil`).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file was not read. Every message starts with the file's name in backticks, so callers
/// can say what the file was for: "config file `x.yaml` is not a regular file but a FIFO".
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing at that path.
    #[error("`{}` does not exist", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// A folder, FIFO, device or socket.
    #[error("`{}` is not a regular file but {kind}", path.display())]
    NotRegular {
        /// The path given.
        path: PathBuf,
        /// What it is instead ("a folder", "a FIFO", ...).
        kind: &'static str,
    },
    /// Larger than the caller allows.
    #[error("`{}` is larger than {} MiB", path.display(), cap / (1024 * 1024))]
    TooLarge {
        /// The path given.
        path: PathBuf,
        /// The cap, in bytes.
        cap: u64,
    },
    /// Any other I/O error (permissions, ...).
    #[error("`{}` cannot be read: {source}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl ReadError {
    /// What is wrong, without the file's name (for messages that name it already).
    pub fn reason(&self) -> String {
        match self {
            ReadError::NotFound { .. } => "no such file".to_string(),
            ReadError::NotRegular { kind, .. } => format!("not a regular file but {kind}"),
            ReadError::TooLarge { cap, .. } => format!("larger than {} MiB", cap / (1024 * 1024)),
            ReadError::Io { source, .. } => source.to_string(),
        }
    }
}

/// Reads `path` whole if it is a regular file of at most `cap` bytes (symlinks followed).
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound { path: path.to_path_buf() },
        _ => ReadError::Io { path: path.to_path_buf(), source },
    };
    // Non-blocking open: opening a FIFO for reading would otherwise wait for a writer. The type
    // is checked on the opened file, so nothing can swap the file between check and read.
    let file = File::options().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let kind = if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        };
        return Err(ReadError::NotRegular { path: path.to_path_buf(), kind });
    }
    if meta.len() > cap {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), cap });
    }
    // The size can change while reading (or be 0 for /proc files): the cap holds whatever comes.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge { path: path.to_path_buf(), cap });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 1 << 20;

    #[test]
    fn regular_files_only_and_within_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("t.yaml");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(read_regular(&file, 3).unwrap(), b"abc");
        let big = read_regular(&file, 2).unwrap_err();
        assert!(matches!(big, ReadError::TooLarge { .. }), "{big}");

        let fifo = tmp.path().join("fifo.yaml");
        // Made in process: a child process here would be counted by the collector's tests,
        // which run beside this one and take this process as a frontend.
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = read_regular(&fifo, CAP).unwrap_err();
        assert_eq!(e.to_string(), format!("`{}` is not a regular file but a FIFO", fifo.display()));

        let e = read_regular(Path::new("/dev/zero"), CAP).unwrap_err();
        assert_eq!(e.to_string(), "`/dev/zero` is not a regular file but a character device");
        let e = read_regular(tmp.path(), CAP).unwrap_err();
        assert!(e.to_string().ends_with("is not a regular file but a folder"), "{e}");
        let e = read_regular(&tmp.path().join("missing"), CAP).unwrap_err();
        assert!(matches!(e, ReadError::NotFound { .. }), "{e}");
    }

    /// A file whose size says 0 but that has content (as /proc files do) is still capped.
    #[test]
    fn the_cap_holds_for_files_without_a_size() {
        let e = read_regular(Path::new("/proc/self/status"), 10).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        assert!(!read_regular(Path::new("/proc/self/status"), CAP).unwrap().is_empty());
    }
}
