//! Planning whole test files written as YAML: limits, costs and what the plan keeps.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::source::Sources;
use crate::config::yaml::parse_config;
use crate::config::Loaded;
use crate::plan::{build, Plan};

/// Plans `yaml` as the file `t.yaml`; errors come back one per line (`t.yaml:3:16: error: …`).
fn plan(yaml: &str) -> Result<Plan, Vec<String>> {
    let mut sources = Sources::new();
    let id = sources.add_file(Path::new("t.yaml"), yaml.to_string());
    let root = parse_config(&sources, id).unwrap().docs.remove(0);
    let loaded = Loaded { root, sources, warnings: Vec::new(), files: Vec::new() };
    build(&loaded).map_err(|diags| diags.iter().map(|d| loaded.one_line(d)).collect())
}

/// The errors of planning `yaml`, which must fail.
fn errors(yaml: &str) -> Vec<String> {
    plan(yaml).err().unwrap_or_else(|| panic!("planned without errors:\n{yaml}"))
}

/// A scenario `s` with `n` variables and one request that uses the last one.
fn with_variables(n: usize) -> String {
    let mut yaml = String::from("execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    variables:\n");
    for i in 0..n {
        yaml.push_str(&format!("      v{i}: x{i}\n"));
    }
    yaml.push_str(&format!("    requests:\n    - http://127.0.0.1:9/${{v{}}}\n", n - 1));
    yaml
}

#[test]
fn variables_cost_grows_linearly_with_their_count() {
    let time = |n: usize| {
        let yaml = with_variables(n);
        let start = Instant::now();
        let planned = plan(&yaml).unwrap();
        assert_eq!(planned.executions[0].scenario.variables.len(), n);
        start.elapsed()
    };
    let (small, big) = (time(4_000), time(40_000));
    // Ten times the variables may cost ten times the time, not a hundred (loose for a shared machine).
    assert!(big < Duration::from_secs(2) || big < small * 20, "4,000 variables: {small:?}; 40,000: {big:?}");
}
