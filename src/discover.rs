//! Finding test files below a test folder: flat (`suites/x_criteria.yaml`) and the MMS layout
//! (`tests/<name>/<name>.yaml`, with `environments/<env>.yaml` beside it), selected by glob and
//! run in sorted order.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};

/// One test to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFile {
    /// Name used for the artifacts folder and the JUnit suite: the file stem.
    pub name: String,
    /// The test file.
    pub path: PathBuf,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The glob does not parse.
    #[error("invalid glob `{pattern}`")]
    Glob {
        /// The pattern given.
        pattern: String,
        /// The parser's complaint.
        source: globset::Error,
    },
    /// The folder cannot be read.
    #[error("cannot read test folder `{path}`")]
    Read {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn matcher(pattern: &str) -> Result<GlobMatcher, Error> {
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|source| Error::Glob { pattern: pattern.to_string(), source })
}

/// The test files below `dir` matching `pattern` and not `exclude`, in path order; the files and
/// folders in `skip` (the global config, the artifacts folder) are never tests.
pub fn find(dir: &Path, pattern: &str, exclude: Option<&str>, skip: &[PathBuf]) -> Result<Vec<TestFile>, Error> {
    let include = matcher(pattern)?;
    let exclude = exclude.map(matcher).transpose()?;
    let skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut candidates = Vec::new();
    walk(dir, &skip, &mut candidates)?;
    let mut found = Vec::new();
    for path in candidates {
        if path.canonicalize().is_ok_and(|c| skip.contains(&c)) {
            continue;
        }
        let keys = match_keys(dir, &path);
        let hit = |m: &GlobMatcher| keys.iter().any(|k| m.is_match(k));
        if hit(&include) && !exclude.as_ref().is_some_and(hit) {
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            found.push(TestFile { name, path });
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// What a pattern is matched against: file name, path below the test dir, and for the MMS
/// layout the folder name.
fn match_keys(dir: &Path, path: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(name) = path.file_name() {
        keys.push(name.to_string_lossy().into_owned());
    }
    if let Ok(rel) = path.strip_prefix(dir) {
        keys.push(rel.to_string_lossy().into_owned());
    }
    if is_mms_layout(path) {
        if let Some(parent) = path.parent().and_then(Path::file_name) {
            keys.push(parent.to_string_lossy().into_owned());
        }
    }
    keys
}

/// `<name>/<name>.yaml`.
fn is_mms_layout(path: &Path) -> bool {
    let stem = path.file_stem();
    let parent = path.parent().and_then(Path::file_name);
    stem.is_some() && stem == parent
}

fn is_config_file(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"))
}

/// Collects test files below `dir`. Symbolic links are followed, but each folder and each file
/// is taken once, by its canonical path: a link back up the tree (or to itself) would otherwise
/// be walked until the path grows too long, and its tests would run again at every level.
/// Lists the candidate files below `dir`, not entering the folders in `skip` (canonical paths:
/// the artifacts folder) nor any run folder `suite` wrote (its reports are JSON, not tests).
fn walk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let mut seen = Seen::default();
    seen.first(dir);
    seen.0.extend(skip.iter().cloned());
    walk_below(dir, &mut seen, out)
}

/// A folder `suite run` wrote: its `run.json` names the run.
pub fn is_run_folder(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("run.json")).is_ok_and(|text| text.contains("\"run_id\""))
}

/// Canonical paths already walked (folders) or listed (files).
#[derive(Default)]
struct Seen(std::collections::HashSet<PathBuf>);

impl Seen {
    /// Whether `path` is met for the first time (paths that cannot be resolved count as new).
    fn first(&mut self, path: &Path) -> bool {
        path.canonicalize().map_or(true, |c| self.0.insert(c))
    }
}

fn walk_below(dir: &Path, seen: &mut Seen, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    // In the MMS layout a folder holding `<name>.yaml` is one test; its other YAML files are data.
    let own = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let has_own_test = own.as_ref().is_some_and(|n| {
        entries.iter().any(|p| is_config_file(p) && p.file_stem().is_some_and(|s| s.to_string_lossy() == *n))
    });
    for path in entries {
        if path.is_dir() {
            // Environment profiles are merged into tests, never run on their own.
            if path.file_name().is_some_and(|n| n == "environments") || !seen.first(&path) || is_run_folder(&path) {
                continue;
            }
            walk_below(&path, seen, out)?;
        } else if is_config_file(&path) && (!has_own_test || is_mms_layout(&path)) && seen.first(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// The environment profile of a test, if `env` is given and the file exists.
pub fn environment_file(test: &Path, env: &str) -> Option<PathBuf> {
    let dir = test.parent()?.join("environments");
    ["yaml", "yml", "json"].iter().map(|ext| dir.join(format!("{env}.{ext}"))).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "execution: []\n").unwrap();
    }

    #[test]
    fn flat_and_mms_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "b_criteria.yaml");
        touch(root, "a_criteria.yaml");
        touch(root, "notes.yaml");
        touch(root, "global_config.yaml");
        touch(root, "inference/inference.yaml");
        touch(root, "inference/environments/xlarge.yaml");
        touch(root, "inference/data.yaml");
        touch(root, "examples_x/examples_x.yaml");

        let skip = vec![root.join("global_config.yaml")];
        let names = |found: Vec<TestFile>| found.into_iter().map(|t| t.name).collect::<Vec<_>>();
        assert_eq!(names(find(root, "*criteria*.yaml", None, &skip).unwrap()), vec!["a_criteria", "b_criteria"]);
        assert_eq!(names(find(root, "inference", None, &skip).unwrap()), vec!["inference"]);
        assert_eq!(
            names(find(root, "*", Some("example*"), &skip).unwrap()),
            vec!["a_criteria", "b_criteria", "inference", "notes"]
        );
        assert!(find(root, "nothing*", None, &skip).unwrap().is_empty());
        assert!(environment_file(&root.join("inference/inference.yaml"), "xlarge").is_some());
        assert!(environment_file(&root.join("inference/inference.yaml"), "small").is_none());
        assert!(matches!(find(root, "[", None, &skip), Err(Error::Glob { .. })));
    }

    /// Links back up the tree, to themselves, or to a file already listed: each test once, fast.
    #[test]
    fn symlink_loops_and_self_links_list_each_test_once() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, "a_criteria.yaml");
        touch(root, "sub/b_criteria.yaml");
        symlink(".", root.join("self")).unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        symlink("../sub", root.join("sub/loop")).unwrap();
        symlink("a_criteria.yaml", root.join("same_criteria.yaml")).unwrap();
        // A link to a folder outside the test dir is followed (once).
        let elsewhere = tempfile::tempdir().unwrap();
        touch(elsewhere.path(), "c_criteria.yaml");
        symlink(elsewhere.path(), root.join("linked")).unwrap();
        symlink(elsewhere.path(), root.join("linked-again")).unwrap();
        let started = std::time::Instant::now();
        let found = find(root, "*criteria*.yaml", None, &[]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        let rel: Vec<_> = found.iter().map(|t| t.path.strip_prefix(root).unwrap().to_path_buf()).collect();
        let expected: Vec<PathBuf> =
            ["a_criteria.yaml", "linked/c_criteria.yaml", "sub/b_criteria.yaml"].iter().map(PathBuf::from).collect();
        assert_eq!(rel, expected);
    }
}
