//! The files a run reads, gathered for a ConfigMap: every regular file under the test dir, and
//! the global config when it lies outside it, each at the path it must have below the pod's
//! working folder so that relative paths resolve there as they do here.
//!
//! ConfigMap keys allow only `[-._a-zA-Z0-9]`, so a path is encoded into a key ([`key`]) and
//! the volume's `items` put each key back at its path ([`path_of`] is the inverse).

use std::path::{Component, Path, PathBuf};

use super::Error;

/// What Kubernetes lets a ConfigMap hold: keys and values together, 1 MiB.
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024;

/// The longest key Kubernetes accepts.
const KEY_LIMIT: usize = 253;

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its path below the pod's working folder, `/`-separated, relative, without `..`.
    pub path: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The files of a run and the paths the pod's `suite run` names them by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Every file, sorted by path.
    pub files: Vec<File>,
    /// The test dir as the pod names it (`-t`).
    pub test_dir: String,
    /// The global config as the pod names it (`-g`), when one was given.
    pub global_config: Option<String>,
}

/// The file name every `suite run` looks for in its current folder.
const GLOBAL_CONFIG: &str = "global_config.yaml";

/// Gathers the files under `test_dir` (not entering `skip`, the manifests' own folder, hidden
/// folders, nor run folders `suite` wrote), and the global config: `global` if given, else
/// `global_config.yaml` of the current folder if present, as `suite run` finds it. Their sizes
/// are checked ([`check_size`]) before any is read.
pub fn collect(test_dir: &Path, global: Option<&Path>, skip: &Path) -> Result<Bundle, Error> {
    let io_err = |path: &Path, source| Error::Io { path: path.to_path_buf(), source };
    if !test_dir.is_dir() {
        return Err(Error::NoTestDir(test_dir.to_path_buf()));
    }
    let root = test_dir.canonicalize().map_err(|e| io_err(test_dir, e))?;
    let pod_dir = pod_path(test_dir)
        .unwrap_or_else(|| root.file_name().map_or_else(|| "suite".into(), |n| n.to_string_lossy().into_owned()));
    let skip = skip.canonicalize().ok();
    let mut found = Vec::new();
    walk(&root, skip.as_deref(), &mut found).map_err(|(path, e)| io_err(&path, e))?;
    // (path in the pod, file here)
    let mut sources: Vec<(String, PathBuf)> = found
        .into_iter()
        .map(|path| (join(&pod_dir, path.strip_prefix(&root).expect("walked below the root")), path))
        .collect();
    let default_global = Path::new(GLOBAL_CONFIG);
    let global_file = match global {
        Some(g) => Some(g),
        None if default_global.is_file() && pod_dir != "." => Some(default_global),
        None => None,
    };
    let mut global_config = None;
    if let Some(g) = global_file {
        let canonical = g.canonicalize().map_err(|e| io_err(g, e))?;
        let pod = match canonical.strip_prefix(&root) {
            Ok(rel) => join(&pod_dir, rel),
            Err(_) => {
                let name =
                    || canonical.file_name().map_or_else(|| GLOBAL_CONFIG.into(), |n| n.to_string_lossy().into_owned());
                let pod = pod_path(g).unwrap_or_else(name);
                if sources.iter().any(|(p, _)| *p == pod) {
                    return Err(Error::Clash(pod));
                }
                sources.push((pod.clone(), g.to_path_buf()));
                pod
            }
        };
        // Without `-g` the pod finds `global_config.yaml` in its working folder by itself.
        global_config = global.map(|_| pod);
    }
    sources.sort();
    let mut sizes = Vec::with_capacity(sources.len());
    for (pod, path) in &sources {
        let len = std::fs::metadata(path).map_err(|e| io_err(path, e))?.len();
        sizes.push((pod.clone(), usize::try_from(len).unwrap_or(usize::MAX)));
    }
    check_size(&sizes)?;
    let mut files = Vec::with_capacity(sources.len());
    for (pod, path) in sources {
        // Capped: a file that grew since its size was taken cannot make the ConfigMap unbounded.
        let bytes = crate::fsutil::read_regular(&path, CONFIGMAP_LIMIT as u64)
            .map_err(|e| Error::Unreadable { path: path.clone(), reason: e.reason() })?;
        files.push(File { path: pod, bytes });
    }
    Ok(Bundle { files, test_dir: pod_dir, global_config })
}

/// Lists the regular files below `dir` (symlinked files followed, symlinked folders not, so a
/// link loop cannot recur; hidden folders such as `.git` left out), sorted.
fn walk(dir: &Path, skip: Option<&Path>, out: &mut Vec<PathBuf>) -> Result<(), (PathBuf, std::io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let link = std::fs::symlink_metadata(&path).map_err(|e| (path.clone(), e))?;
        if link.is_dir() {
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden && Some(path.as_path()) != skip && !crate::discover::is_run_folder(&path) {
                walk(&path, skip, out)?;
            }
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// `path` as a relative, `/`-separated path without `.` parts, when it is relative and stays
/// below the current folder (`.` for the current folder itself).
fn pod_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(if parts.is_empty() { ".".into() } else { parts.join("/") })
}

/// `dir/rel` as a pod path (`rel` alone when `dir` is `.`).
fn join(dir: &str, rel: &Path) -> String {
    let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let rel = rel.join("/");
    if dir == "." {
        rel
    } else {
        format!("{dir}/{rel}")
    }
}

/// The ConfigMap key of a path: `[-.a-zA-Z0-9]` kept, every other byte (`/` and `_` included)
/// written `_XX` in hex, so each key names one path (`k6/load_test.js` → `k6_2Fload_5Ftest.js`).
pub fn key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' => out.push(byte as char),
            _ => out.push_str(&format!("_{byte:02X}")),
        }
    }
    out
}

/// The path a [`key`] encodes; `None` for a text no path encodes to.
pub fn path_of(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'_' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Whether a file goes to the ConfigMap's `data` (text YAML can carry as it is) rather than
/// `binaryData` (base64).
pub fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes)
        .is_ok_and(|s| s.chars().all(|c| matches!(c, '\n' | '\t') || (!c.is_control() && c != '\u{feff}')))
}

/// Checks that every key (of the paths given with their sizes) is short enough and that the
/// files fit in one ConfigMap, naming the biggest files when they do not.
pub fn check_size(files: &[(String, usize)]) -> Result<(), Error> {
    if let Some((long, _)) = files.iter().find(|(path, _)| key(path).len() > KEY_LIMIT) {
        return Err(Error::LongPath(long.clone()));
    }
    let total = files.iter().fold(0usize, |sum, (path, len)| sum.saturating_add(key(path).len()).saturating_add(*len));
    if total <= CONFIGMAP_LIMIT {
        return Ok(());
    }
    let mut biggest = files.to_vec();
    biggest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    biggest.truncate(5);
    Err(Error::TooBig { total, biggest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_paths_and_use_only_allowed_characters() {
        let paths = [
            "suites/inference_criteria.yaml",
            "k6/load_test.js",
            "a_/b",
            "a/_b",
            "MMS model/données.csv",
            "x.y-z",
            "_2F",
        ];
        let mut keys = std::collections::HashSet::new();
        for path in paths {
            let k = key(path);
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)), "{k}");
            assert_eq!(path_of(&k).as_deref(), Some(path), "{k}");
            assert!(keys.insert(k), "two paths share a key");
        }
        assert_eq!(key("k6/load_test.js"), "k6_2Fload_5Ftest.js");
        assert_eq!(path_of("bad_2"), None);
        assert_eq!(path_of("bad_ZZ"), None);
    }

    #[test]
    fn text_and_binary_files_are_told_apart() {
        assert!(is_text(b"execution:\n- concurrency: 1\n\tx\n"));
        assert!(is_text("données".as_bytes()));
        assert!(!is_text(&[0xff, 0xfe, 0x00]));
        assert!(!is_text(b"a\0b"));
        assert!(!is_text(b"a\r\nb"));
    }

    #[test]
    fn files_over_one_mib_name_the_biggest() {
        let mut files = vec![("s/a.yaml".to_string(), 100)];
        assert!(check_size(&files).is_ok());
        files.push(("s/big.csv".into(), 700 * 1024));
        files.push(("s/bigger.bin".into(), 400 * 1024));
        let err = check_size(&files).unwrap_err().to_string();
        assert!(err.contains("1 MiB"), "{err}");
        let (bigger, big) = (err.find("s/bigger.bin").unwrap(), err.find("s/big.csv").unwrap());
        assert!(big < bigger, "biggest first: {err}");
        assert!(err.contains("--suite-in-image"), "{err}");
        assert!(check_size(&[("s/huge".into(), usize::MAX)]).is_err(), "no overflow");
    }

    #[test]
    fn a_path_whose_key_is_too_long_is_refused() {
        let long = format!("s/{}", "é".repeat(60));
        assert!(matches!(check_size(&[(long.clone(), 1)]), Err(Error::LongPath(p)) if p == long));
    }

    #[test]
    fn collect_keeps_relative_paths_and_skips_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("s/data")).unwrap();
        std::fs::create_dir_all(root.join("s/k8s")).unwrap();
        std::fs::write(root.join("s/a_criteria.yaml"), "x: 1\n").unwrap();
        std::fs::write(root.join("s/data/rows.csv"), "a,b\n").unwrap();
        std::fs::write(root.join("s/k8s/old.yaml"), "old\n").unwrap();
        std::fs::create_dir_all(root.join("s/.git")).unwrap();
        std::fs::write(root.join("s/.git/HEAD"), "ref\n").unwrap();
        std::fs::write(root.join("g.yaml"), "settings: {}\n").unwrap();
        let bundle = collect(&root.join("s"), Some(&root.join("g.yaml")), &root.join("s/k8s")).unwrap();
        let paths: Vec<&str> = bundle.files.iter().map(|f| f.path.as_str()).collect();
        // An absolute test dir is named by its last part in the pod.
        assert_eq!(paths, ["g.yaml", "s/a_criteria.yaml", "s/data/rows.csv"]);
        assert_eq!(bundle.test_dir, "s");
        assert_eq!(bundle.global_config.as_deref(), Some("g.yaml"));
        assert_eq!(bundle.files[2].bytes, b"a,b\n");
    }

    #[test]
    fn pod_paths_stay_below_the_working_folder() {
        assert_eq!(pod_path(Path::new("./suites/x")).as_deref(), Some("suites/x"));
        assert_eq!(pod_path(Path::new(".")).as_deref(), Some("."));
        assert_eq!(pod_path(Path::new("../suites")), None);
        assert_eq!(pod_path(Path::new("/abs/suites")), None);
        assert_eq!(join(".", Path::new("a/b.yaml")), "a/b.yaml");
    }
}
