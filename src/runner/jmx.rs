//! JMeter plans on the command line: `suite validate plan.jmx` (what the plan holds) and
//! `suite jmx2yaml plan.jmx` (the plan as Taurus YAML).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::cli::Jmx2yamlArgs;
use crate::config::{Diagnostic, Sources};
use crate::outcome::Outcome;
use crate::plan::jmx::{self, describe, to_yaml};
use crate::report::store::write_atomic;

/// Whether `path` names a JMeter plan.
pub(super) fn is_plan(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jmx"))
}

/// `suite validate` of JMeter plans: each one read (every error shown) and described.
pub(super) fn validate(files: &[PathBuf], quiet: bool) -> Outcome {
    let mut outcome = Outcome::Passed;
    for path in files {
        let mut sources = Sources::new();
        match jmx::load(path, &mut sources) {
            Ok(plan) => {
                if !quiet {
                    crate::out!("{}", describe::describe(&plan));
                }
                let groups = describe::run_order(&plan).len();
                let samplers = plan.walk().iter().filter(|n| matches!(n.kind, jmx::Kind::Http(_))).count();
                crate::errln!("ok: {}: {groups} thread group(s), {samplers} sampler(s)", path.display());
            }
            Err(errors) => {
                print_all(&errors, &sources);
                outcome = Outcome::Error;
            }
        }
    }
    outcome
}

/// `suite jmx2yaml`: the plan as Taurus YAML on stdout or in `--output`; warnings on stderr.
pub fn jmx2yaml(args: Jmx2yamlArgs) -> Outcome {
    let mut properties = HashMap::new();
    for p in &args.properties {
        match p.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                properties.insert(name.trim().to_string(), value.to_string());
            }
            _ => {
                crate::errln!("error: `-J {p}` must be `NAME=VALUE`");
                return Outcome::Error;
            }
        }
    }
    let mut sources = Sources::new();
    let plan = match jmx::load(&args.plan, &mut sources) {
        Ok(plan) => plan,
        Err(errors) => {
            print_all(&errors, &sources);
            return Outcome::Error;
        }
    };
    let file_base = file_base(&args.plan, args.output.as_deref());
    let options = to_yaml::Options { properties, file_base };
    let converted = match to_yaml::to_yaml(&plan, &sources, &options) {
        Ok(c) => c,
        Err(errors) => {
            print_all(&errors, &sources);
            return Outcome::Error;
        }
    };
    for w in &converted.warnings {
        crate::errln!("{}", w.one_line(&sources));
    }
    if let Some(note) = plan.listeners_note() {
        crate::errln!("note: {note}");
    }
    match &args.output {
        None => {
            crate::out!("{}", converted.yaml);
            Outcome::Passed
        }
        Some(out) => match write_atomic(out, converted.yaml.as_bytes()) {
            Ok(()) => {
                let approximations = converted.warnings.len();
                crate::errln!("wrote {} ({approximations} approximation(s) marked in comments)", out.display());
                Outcome::Passed
            }
            Err(e) => {
                crate::errln!("error: {e}");
                Outcome::Error
            }
        },
    }
}

fn print_all(errors: &[Diagnostic], sources: &Sources) {
    crate::err!("{}", errors.iter().map(|d| d.render(sources)).collect::<String>());
}

/// The plan's folder as seen from the output's folder (the current one for stdout); `None` when
/// they are the same or cannot be compared.
fn file_base(plan: &Path, output: Option<&Path>) -> Option<PathBuf> {
    let folder = |p: Option<&Path>| match p {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let plan_dir = folder(plan.parent()).canonicalize().ok()?;
    let out_dir = folder(output.and_then(Path::parent)).canonicalize().ok()?;
    let rel = relative(&out_dir, &plan_dir);
    // A path that climbs to the root says no more than the absolute one.
    let to_root =
        rel.components().take_while(|c| *c == Component::ParentDir).count() + 1 >= out_dir.components().count();
    match rel.as_os_str().is_empty() {
        true => None,
        false if to_root => Some(plan_dir),
        false => Some(rel),
    }
}

/// The path from folder `from` to `to`, both absolute.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_between_folders() {
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), PathBuf::new());
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/c/d")), PathBuf::from("../c/d"));
        assert_eq!(relative(Path::new("/a"), Path::new("/a/plans")), PathBuf::from("plans"));
        assert!(is_plan(Path::new("x/Plan.JMX")) && !is_plan(Path::new("x.yaml")));
    }
}
