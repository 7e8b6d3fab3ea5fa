//! Test names: each test's folder in the run folder and its JUnit suite. A test is named after its
//! file (`ping.yaml` → `ping`); tests whose files share a name (`x/ping.yaml`, `y/ping.yaml`) are
//! named by their path below the test folder instead (`x-ping`, `y-ping`), and a name still taken
//! gets `-2`, `-3`, ... so no test's files overwrite another's.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};

use crate::discover::TestFile;

/// Makes the names of `tests` (found below `root`, in run order) unique within the run.
pub(super) fn make_unique(tests: &mut [TestFile], root: &Path) {
    let mut stems: HashMap<String, usize> = HashMap::new();
    for test in tests.iter() {
        *stems.entry(test.name.clone()).or_default() += 1;
    }
    for test in tests.iter_mut() {
        if stems[&test.name] > 1 {
            test.name = qualified(&test.path, root).unwrap_or_else(|| test.name.clone());
        }
    }
    let mut taken = HashSet::new();
    for test in tests.iter_mut() {
        test.name = unique(&mut taken, std::mem::take(&mut test.name));
    }
}

/// `name`, or with `-2`, `-3`, ... the first that is not `taken`; now taken.
pub(super) fn unique(taken: &mut HashSet<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 1;
    while !taken.insert(candidate.clone()) {
        n += 1;
        candidate = format!("{name}-{n}");
    }
    candidate
}

/// The path below `root` without its extension, its parts joined by `-`; the MMS layout's folder
/// (`x/inference/inference.yaml`) is named once (`x-inference`).
fn qualified(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.len() >= 2 && parts[parts.len() - 1] == parts[parts.len() - 2] {
        parts.pop();
    }
    (!parts.is_empty()).then(|| parts.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn names(paths: &[&str]) -> Vec<String> {
        let mut tests: Vec<TestFile> = paths
            .iter()
            .map(|p| {
                let path = PathBuf::from("t").join(p);
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                TestFile { name, path }
            })
            .collect();
        make_unique(&mut tests, Path::new("t"));
        tests.into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn shared_file_names_are_qualified_by_their_folders() {
        assert_eq!(names(&["a.yaml", "b.yaml"]), ["a", "b"]);
        assert_eq!(names(&["ping.yaml", "x/ping.yaml", "y/ping.yaml"]), ["ping", "x-ping", "y-ping"]);
        assert_eq!(names(&["a/inf/inf.yaml", "b/inf/inf.yaml"]), ["a-inf", "b-inf"]);
        assert_eq!(names(&["ping.yaml", "ping.yml", "ping.json"]), ["ping", "ping-2", "ping-3"]);
        assert_eq!(names(&["x-ping.yaml", "x/ping.yaml", "y/ping.yaml"]), ["x-ping", "x-ping-2", "y-ping"]);
    }
}
