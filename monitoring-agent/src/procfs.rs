//! Low-level readers for the Linux `/proc` files that sysinfo does not cover (or would read twice).
//!
//! Per process, one `/proc/<pid>/stat` read gives state, parent, user/system/iowait ticks, threads, start time,
//! VMS and RSS; `/proc/<pid>/io` gives syscall and storage counters, and the size of `/proc/<pid>/fd` the open
//! descriptors. sysinfo has no user/system split, no iowait, no syscall counts and no cheap thread count, and
//! refreshing a process through it re-reads `stat`, so the per-process figures come from here. Every reader
//! reuses one buffer and one path string: the agent does this 50 times a second and must stay under 0.5 % CPU.
//!
//! Nothing here panics: a process that vanished mid-read, a field that does not parse or a file we may not read
//! gives `None`, which the collector reports as 0 (as the MMS agent did for a missing attribute).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Most `/proc` files kept open across polls (3 per process: `stat`, `statm`, `io`). Re-reading a held file is one
/// `pread` instead of `open` + `read` + `close`; past this many the reader falls back to opening each time, so a
/// huge process tree cannot exhaust the agent's descriptors (the usual soft limit is 1024).
const MAX_HELD: usize = 384;

/// An open `/proc/<pid>/<file>` re-read from offset 0 each poll. It stays bound to the process it was opened for:
/// once that process is reaped, reads fail, so a reused pid is never read through it.
#[derive(Debug)]
pub(crate) struct Held {
    file: File,
    count: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The held files of one tracked process (closed when it is dropped).
#[derive(Debug, Default)]
pub(crate) struct Files {
    stat: Option<Held>,
    statm: Option<Held>,
    io: Option<Held>,
}

/// The fields of `/proc/<pid>/stat` the collector uses (ticks are in `USER_HZ`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stat {
    /// One-letter state (`R`, `S`, `Z`, …).
    pub state: u8,
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    pub threads: u64,
    /// Start time after boot in ticks: with the pid it identifies a process across pid reuse.
    pub start: u64,
    /// Bytes; `statm` is preferred for memory (see [`Statm`]).
    pub vsize: u64,
    pub rss_pages: u64,
    /// `delayacct_blkio_ticks`: psutil's `cpu_times().iowait`.
    pub iowait: u64,
}

impl Stat {
    /// Exited but not yet reaped (`Z`), or dead (`X`).
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// `/proc/<pid>/statm` in pages: exact, unlike the `rss` of `stat`, which since Linux 6.2 reads only the global
/// part of per-CPU counters and lags by up to dozens of pages. psutil's `memory_info()` reads this file too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Statm {
    pub size_pages: u64,
    pub resident_pages: u64,
}

/// The fields of `/proc/<pid>/io` psutil's `io_counters()` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Io {
    pub read_count: u64,
    pub write_count: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// Whole-disk totals from `/proc/diskstats`, as psutil's `disk_io_counters()` sums them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DiskIo {
    pub read_count: u64,
    pub write_count: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// A reader with reusable buffers.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    path: String,
    /// `/sys/block/<name>` existence per diskstats name: whole disks are listed there, partitions are not.
    whole_disks: std::collections::HashMap<String, bool>,
    /// Files currently held open (see [`MAX_HELD`]).
    held: Arc<AtomicUsize>,
}

impl Reader {
    /// Reads a single-record file (`stat`, `statm`, `io`) at `self.path` into the reused buffer. Not
    /// `read_to_end`: std asks for a size hint first (`statx` + `lseek`), two wasted syscalls per file on `/proc`,
    /// whose files report size 0 anyway. These files are generated whole by one read, so a read shorter than the
    /// space offered is the end, and the usual extra read returning 0 is skipped too.
    fn read_path(&mut self) -> io::Result<&[u8]> {
        self.read_path_until(false)
    }

    /// Like `read_path`, but reads until a read returns 0: multi-record files (`/proc/net/tcp`, `diskstats`,
    /// `cmdline`) may return less than asked before their end.
    fn read_whole_path(&mut self) -> io::Result<&[u8]> {
        self.read_path_until(true)
    }

    fn read_path_until(&mut self, eof: bool) -> io::Result<&[u8]> {
        let mut file = File::open(&self.path)?;
        if self.buf.len() < 4096 {
            self.buf.resize(4096, 0);
        }
        let mut len = 0;
        loop {
            let n = file.read(&mut self.buf[len..])?;
            len += n;
            if n == 0 || (!eof && len < self.buf.len()) {
                break;
            }
            if len == self.buf.len() {
                // Filled the buffer: there may be more (e.g. /proc/net/tcp with many sockets).
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        Ok(&self.buf[..len])
    }

    /// Reads a single-record file of a tracked process through its held handle, opening (and, within
    /// [`MAX_HELD`], keeping) it when there is none. A failed re-read drops the handle and tries the path once, so
    /// a transient error costs one open; a gone process fails both.
    fn read_held(&mut self, pid: u32, file: &str, slot: &mut Option<Held>) -> io::Result<&[u8]> {
        if let Some(held) = slot.as_ref() {
            if let Ok(len) = pread_all(&held.file, &mut self.buf) {
                if len > 0 {
                    return Ok(&self.buf[..len]);
                }
            }
            *slot = None;
        }
        self.set_path(pid, file);
        let opened = File::open(&self.path)?;
        let len = pread_all(&opened, &mut self.buf)?;
        if self.held.load(Ordering::Relaxed) < MAX_HELD {
            self.held.fetch_add(1, Ordering::Relaxed);
            *slot = Some(Held { file: opened, count: self.held.clone() });
        }
        Ok(&self.buf[..len])
    }

    /// `stat` of a tracked process (through its held handle).
    pub fn stat_held(&mut self, pid: u32, files: &mut Files) -> Option<Stat> {
        parse_stat(self.read_held(pid, "stat", &mut files.stat).ok()?)
    }

    /// `statm` of a tracked process (through its held handle).
    pub fn statm_held(&mut self, pid: u32, files: &mut Files) -> Option<Statm> {
        parse_statm(self.read_held(pid, "statm", &mut files.statm).ok()?)
    }

    /// `io` of a tracked process (through its held handle).
    pub fn io_held(&mut self, pid: u32, files: &mut Files) -> Option<Io> {
        Some(parse_io(self.read_held(pid, "io", &mut files.io).ok()?))
    }

    fn set_path(&mut self, pid: u32, file: &str) {
        self.path.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.path, "/proc/{pid}/{file}");
    }

    /// `/proc/<pid>/stat`, or `None` when the process is gone.
    pub fn stat(&mut self, pid: u32) -> Option<Stat> {
        self.set_path(pid, "stat");
        parse_stat(self.read_path().ok()?)
    }

    /// The number of open descriptors. Since Linux 6.2 `stat()` on `/proc/<pid>/fd` reports it as the size, one
    /// syscall; older kernels report 0 and we count the directory entries.
    pub fn fd_count(&mut self, pid: u32) -> Option<u64> {
        self.set_path(pid, "fd");
        let size = std::fs::metadata(&self.path).ok()?.len();
        if size > 0 {
            return Some(size);
        }
        Some(std::fs::read_dir(&self.path).ok()?.filter(|e| e.is_ok()).count() as u64)
    }

    /// The command line with NULs turned into spaces (as `ps` shows it); `None` when unreadable.
    pub fn cmdline(&mut self, pid: u32) -> Option<String> {
        self.set_path(pid, "cmdline");
        let raw = self.read_whole_path().ok()?;
        let text = String::from_utf8_lossy(raw);
        Some(text.trim_end_matches('\0').replace('\0', " "))
    }

    /// Every numeric entry of `/proc`.
    pub fn pids(&self) -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
    }

    /// Whole-disk totals from `/proc/diskstats` (sectors are 512 bytes regardless of the device).
    pub fn disk_io(&mut self) -> Option<DiskIo> {
        self.path.clear();
        self.path.push_str("/proc/diskstats");
        let text = String::from_utf8_lossy(self.read_whole_path().ok()?).into_owned();
        let mut total = DiskIo::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let whole = match self.whole_disks.get(f[2]) {
                Some(w) => *w,
                None => {
                    let w = std::path::Path::new("/sys/block").join(f[2].replace('/', "!")).exists();
                    self.whole_disks.insert(f[2].to_string(), w);
                    w
                }
            };
            if !whole {
                continue;
            }
            let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
            total.read_count = total.read_count.wrapping_add(n(3));
            total.read_bytes = total.read_bytes.wrapping_add(n(5).wrapping_mul(512));
            total.write_count = total.write_count.wrapping_add(n(7));
            total.write_bytes = total.write_bytes.wrapping_add(n(9).wrapping_mul(512));
        }
        Some(total)
    }

    /// Established TCP sockets in `/proc/net/tcp` and `/proc/net/tcp6` (state `01`), what `netstat -an | grep EST`
    /// counts for Taurus.
    pub fn tcp_established(&mut self) -> u64 {
        let mut count = 0;
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            self.path.clear();
            self.path.push_str(file);
            if let Ok(raw) = self.read_whole_path() {
                count += raw
                    .split(|b| *b == b'\n')
                    .skip(1)
                    .filter(|line| line.split(|b| *b == b' ').filter(|f| !f.is_empty()).nth(3) == Some(b"01"))
                    .count() as u64;
            }
        }
        count
    }
}

/// Parses `/proc/<pid>/stat`. The command name is in parentheses and may itself contain spaces and `)`, so the
/// fields are counted from the last `)`.
pub(crate) fn parse_stat(raw: &[u8]) -> Option<Stat> {
    let close = raw.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(raw.get(close + 1..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // Field k of proc(5) (1-based) is f[k - 3].
    let n = |k: usize| f.get(k - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        state: *f.first()?.as_bytes().first()?,
        ppid: n(4)? as u32,
        utime: n(14)?,
        stime: n(15)?,
        threads: n(20)?,
        start: n(22)?,
        vsize: n(23)?,
        rss_pages: f.get(21).and_then(|v| v.parse::<i64>().ok()).map_or(0, |v| v.max(0) as u64),
        iowait: n(42).unwrap_or(0),
    })
}

/// Reads a single-record file from offset 0 into `buf` (grown as needed); returns the length.
fn pread_all(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut len = 0;
    loop {
        let n = file.read_at(&mut buf[len..], len as u64)?;
        len += n;
        // Generated whole by one read: a short read is the end.
        if n == 0 || len < buf.len() {
            return Ok(len);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

fn parse_statm(raw: &[u8]) -> Option<Statm> {
    let raw = std::str::from_utf8(raw).ok()?;
    let mut f = raw.split_ascii_whitespace().map(|v| v.parse::<u64>().ok());
    Some(Statm { size_pages: f.next()??, resident_pages: f.next()?? })
}

fn parse_io(raw: &[u8]) -> Io {
    let mut io = Io::default();
    for line in raw.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let value = std::str::from_utf8(&line[colon + 1..]).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        match &line[..colon] {
            b"syscr" => io.read_count = value,
            b"syscw" => io.write_count = value,
            b"read_bytes" => io.read_bytes = value,
            b"write_bytes" => io.write_bytes = value,
            _ => {}
        }
    }
    io
}

/// `(USER_HZ, page size)` from the kernel's auxiliary vector (`AT_CLKTCK`, `AT_PAGESZ`), read from
/// `/proc/self/auxv` so no `unsafe` `sysconf` call is needed. Falls back to Linux's usual 100 and 4096.
pub(crate) fn clock_ticks_and_page_size() -> (u64, u64) {
    const AT_PAGESZ: u64 = 6;
    const AT_CLKTCK: u64 = 17;
    let (mut hz, mut page) = (100, 4096);
    let Ok(raw) = std::fs::read("/proc/self/auxv") else { return (hz, page) };
    let word = std::mem::size_of::<usize>();
    let read = |chunk: &[u8]| -> u64 {
        let mut bytes = [0u8; 8];
        let n = chunk.len().min(8);
        if cfg!(target_endian = "little") {
            bytes[..n].copy_from_slice(&chunk[..n]);
            u64::from_le_bytes(bytes)
        } else {
            bytes[8 - n..].copy_from_slice(&chunk[..n]);
            u64::from_be_bytes(bytes)
        }
    };
    for pair in raw.chunks_exact(2 * word) {
        let (key, value) = (read(&pair[..word]), read(&pair[word..]));
        match key {
            AT_CLKTCK if value > 0 => hz = value,
            AT_PAGESZ if value > 0 => page = value,
            _ => {}
        }
    }
    (hz, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let raw = b"42 (a) b) c) S 7 42 42 0 -1 4194304 100 0 0 0 250 125 0 0 20 0 3 0 9999 1000000 256 \
            18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 12 0 0\n";
        let s = parse_stat(raw).expect("parses");
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 7);
        assert_eq!((s.utime, s.stime), (250, 125));
        assert_eq!(s.threads, 3);
        assert_eq!(s.start, 9999);
        assert_eq!(s.vsize, 1_000_000);
        assert_eq!(s.rss_pages, 256);
        assert_eq!(s.iowait, 12);
    }

    #[test]
    fn garbage_stat_is_none_not_a_panic() {
        assert_eq!(parse_stat(b""), None);
        assert_eq!(parse_stat(b"1 (x)"), None);
        assert_eq!(parse_stat(b"1 (x) S a b c"), None);
        assert_eq!(parse_stat(&[0xff, b')', 0xfe]), None);
    }

    #[test]
    fn own_process_is_readable() {
        let mut r = Reader::default();
        let me = std::process::id();
        let s = r.stat(me).expect("own stat");
        assert!(s.threads >= 1 && s.rss_pages > 0);
        let mut files = Files::default();
        for _ in 0..2 {
            // The second round re-reads through the held handles.
            assert_eq!(r.stat_held(me, &mut files).map(|s| s.start), Some(s.start));
            assert!(r.io_held(me, &mut files).is_some());
            assert!(r
                .statm_held(me, &mut files)
                .is_some_and(|m| m.resident_pages > 0 && m.size_pages >= m.resident_pages));
        }
        assert_eq!(r.held.load(Ordering::Relaxed), 3);
        drop(files);
        assert_eq!(r.held.load(Ordering::Relaxed), 0);
        assert!(r.fd_count(me).unwrap_or(0) >= 3);
        assert!(r.cmdline(me).is_some_and(|c| !c.is_empty()));
        assert!(r.pids().contains(&me));
        let (hz, page) = clock_ticks_and_page_size();
        assert!(hz >= 100 && page >= 4096);
    }

    #[test]
    fn io_fields() {
        let io = parse_io(
            b"rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 5\nwrite_bytes: 6\ncancelled_write_bytes: 7\n",
        );
        assert_eq!(io, Io { read_count: 3, write_count: 4, read_bytes: 5, write_bytes: 6 });
    }
}
