//! Reading a file the user names (the frontend's pid file) safely: a regular file only, up to a cap, so a FIFO
//! or `/dev/zero` given by mistake gives an error instead of a blocked or ever-growing read. (suite has the same
//! rule in its `fsutil`; the agent does not depend on suite, hence this small copy.)

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file was not read; the caller names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error("does not exist")]
    NotFound,
    #[error("is not a regular file")]
    NotRegular,
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot be read: {0}")]
    Io(std::io::Error),
}

/// Reads `path` whole if it is a regular file of at most `cap` bytes (symlinks followed).
pub(crate) fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e),
    };
    // Non-blocking: opening a FIFO would otherwise wait for a writer. The type is checked on the opened file.
    let file = File::options().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_only_and_within_the_cap() {
        let tmp = std::env::temp_dir().join(format!("agent-file-{}", std::process::id()));
        std::fs::write(&tmp, "42\n").unwrap();
        assert_eq!(read_regular(&tmp, 3).unwrap(), b"42\n");
        assert!(matches!(read_regular(&tmp, 2), Err(ReadError::TooLarge(2))));
        let _ = std::fs::remove_file(&tmp);
        assert!(matches!(read_regular(&tmp, 3), Err(ReadError::NotFound)));
        assert!(matches!(read_regular(Path::new("/dev/zero"), 3), Err(ReadError::NotRegular)));
        assert!(matches!(read_regular(Path::new("/proc/self/status"), 3), Err(ReadError::TooLarge(3))));
    }
}
