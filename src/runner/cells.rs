//! What runs a test file makes: one per matrix cell (`plan::matrix`) and repeat, each with its own
//! folder: `api`, `api@2`, `api[vus=4,model=bert]`, `api[vus=4,model=bert]@2`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::names::unique;
use crate::plan::matrix::{self, Matrix};
use crate::report::repeat_names;

/// Longest folder name a cell gets; a longer one is shortened and numbered.
const MAX_FOLDER: usize = 180;

/// A unit of a test that is judged and compared on its own: the test itself, or one matrix cell.
#[derive(Clone, Debug)]
pub(super) struct Unit {
    /// `api` or `api[vus=4,model=bert]`: what baselines and comparisons are keyed by.
    pub name: String,
    /// The cell's parameter values (empty without a matrix).
    pub cell: Vec<(String, String)>,
    /// The folder of each repeat, in order.
    pub runs: Vec<String>,
}

/// The units of a test file, or why its matrix could not be read (the test then runs once, to
/// report that error).
pub(super) struct Expansion {
    pub units: Vec<Unit>,
    pub matrix: Option<Matrix>,
    /// Whether the services use a matrix parameter, so each cell starts its own.
    pub services_vary: bool,
    pub error: Option<String>,
}

impl Expansion {
    /// The folders of every run, in run order.
    pub fn run_names(&self) -> impl Iterator<Item = &str> {
        self.units.iter().flat_map(|u| u.runs.iter().map(String::as_str))
    }
}

/// Reads the matrix of the test `name` (config `files`) and names its runs. A config that does
/// not load is not an error here: planning the test reports it.
pub(super) fn expand(name: &str, files: Vec<PathBuf>, overrides: &[String], dir: &Path, repeat: u32) -> Expansion {
    let whole = |error| Expansion {
        units: vec![Unit { name: name.to_string(), cell: Vec::new(), runs: repeat_names(name, repeat) }],
        matrix: None,
        services_vary: false,
        error,
    };
    let Ok(loaded) = super::load(files, overrides, dir, &[]) else { return whole(None) };
    match matrix::read(&loaded) {
        Ok(None) => whole(None),
        Ok(Some(m)) => {
            let mut taken = HashSet::new();
            let units = m
                .cells
                .iter()
                .enumerate()
                .map(|(k, cell)| {
                    let folder = unique(&mut taken, folder_name(name, &cell.label(), k + 1));
                    Unit { runs: repeat_names(&folder, repeat), name: folder, cell: cell.values.clone() }
                })
                .collect();
            let services_vary = matrix::services_use(&loaded, &m);
            Expansion { units, matrix: Some(m), services_vary, error: None }
        }
        Err(diags) => whole(Some(diags.iter().map(|d| loaded.render(d)).collect())),
    }
}

/// `api[vus=4,model=bert]`, with characters a folder name cannot hold replaced.
fn folder_name(test: &str, label: &str, index: usize) -> String {
    let safe: String = label.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let name = format!("{test}[{safe}]");
    if name.len() <= MAX_FOLDER {
        return name;
    }
    let mut cut = MAX_FOLDER.saturating_sub(test.len() + 12);
    while !safe.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{test}[{}…#{index}]", &safe[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_safe_short_and_unique() {
        assert_eq!(folder_name("api", "model=a/b,vus=4", 1), "api[model=a_b,vus=4]");
        let long = format!("payload={}", "é".repeat(200));
        let name = folder_name("api", &long, 7);
        assert!(name.len() <= MAX_FOLDER && name.ends_with("…#7]"), "{name}");
        let mut taken = HashSet::new();
        assert_eq!(unique(&mut taken, "x[a=1]".into()), "x[a=1]");
        assert_eq!(unique(&mut taken, "x[a=1]".into()), "x[a=1]-2");
    }
}
