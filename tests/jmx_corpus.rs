//! The JMX reader on every real plan of the corpus (`../shared/corpus`, read in place): each
//! loads or fails only with errors naming unsupported elements, and every plan an MMS suite's
//! `script:` refers to loads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use suite::config::Sources;
use suite::plan::jmx;

use crate::util::shared;

fn files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| ext.contains(&e)) {
            out.push(path);
        }
    }
}

#[test]
fn jmx_corpus_tally_every_plan_loads_or_names_what_it_lacks() {
    let Some(shared) = shared() else { return };
    let corpus = shared.join("corpus");
    let mut plans = Vec::new();
    files(&corpus, &["jmx"], &mut plans);
    assert!(!plans.is_empty(), "no .jmx under {}", corpus.display());

    let (mut loaded, mut failed) = (0, 0);
    let mut tally = String::new();
    for path in &plans {
        let mut sources = Sources::new();
        let started = Instant::now();
        let result = jmx::load(path, &mut sources);
        let took = started.elapsed();
        let shown = path.strip_prefix(&corpus).unwrap_or(path).display().to_string();
        match result {
            Ok(plan) => {
                loaded += 1;
                let samplers = plan.walk().iter().filter(|n| matches!(n.kind, jmx::Kind::Http(_))).count();
                let listeners = plan.listeners.len();
                tally += &format!("  loaded  {shown} ({samplers} samplers, {listeners} listeners ignored, {took:?})\n");
            }
            Err(errors) => {
                failed += 1;
                tally += &format!("  errors  {shown}\n");
                for e in &errors {
                    tally += &format!("            {}\n", e.one_line(&sources));
                    // Every failure names an element by its class (or is about a function).
                    assert!(
                        e.message.starts_with("unsupported JMeter element `")
                            || e.message.starts_with("unknown or unsupported JMeter function `"),
                        "{shown}: an error that names no element:\n{}",
                        e.render(&sources)
                    );
                    assert!(e.span.is_some_and(|s| s.line > 0), "{shown}: an error without a line: {}", e.message);
                }
            }
        }
    }
    println!("JMX corpus: {} plans, {loaded} loaded, {failed} with errors\n{tally}", plans.len());

    // The budget is 50 ms for the largest plan in a release build; a debug build is far slower,
    // so this only catches something going quadratic.
    let largest = plans.iter().max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len())).unwrap();
    let started = Instant::now();
    let _ = jmx::load(largest, &mut Sources::new());
    let took = started.elapsed();
    println!("largest plan {} loads in {took:?}", largest.strip_prefix(&corpus).unwrap_or(largest).display());
    assert!(took.as_millis() < 500, "loading {} took {took:?}", largest.display());
}

/// The plans the MMS suites run (`scenarios.X.script: name.jmx`, resolved beside the YAML, as
/// Taurus does); a `script:` naming a file the corpus does not hold is listed, not failed.
#[test]
fn jmx_corpus_every_plan_an_mms_suite_uses_loads() {
    let Some(shared) = shared() else { return };
    let corpus = shared.join("corpus/mms");
    let mut yamls = Vec::new();
    files(&corpus, &["yaml", "yml"], &mut yamls);
    let (mut used, mut missing) = (Vec::new(), Vec::new());
    for yaml in &yamls {
        let text = std::fs::read_to_string(yaml).unwrap();
        for line in text.lines() {
            let Some(script) = line.trim().strip_prefix("script:") else { continue };
            let script = script.trim().trim_matches(['"', '\'']);
            if !script.ends_with(".jmx") {
                continue;
            }
            let path = yaml.parent().unwrap().join(script);
            if path.is_file() {
                used.push(path);
            } else {
                missing.push(path.strip_prefix(&corpus).unwrap_or(&path).display().to_string());
            }
        }
    }
    used.sort();
    used.dedup();
    missing.sort();
    missing.dedup();
    assert!(used.len() >= 19, "only {} MMS plans found", used.len());
    let mut failures = String::new();
    let mut slowest = (std::time::Duration::ZERO, PathBuf::new());
    for path in &used {
        let mut sources = Sources::new();
        let started = Instant::now();
        if let Err(errors) = jmx::load(path, &mut sources) {
            failures += &errors.iter().map(|e| e.render(&sources)).collect::<String>();
        }
        let took = started.elapsed();
        if took > slowest.0 {
            slowest = (took, path.clone());
        }
    }
    println!(
        "MMS suites use {} plans; slowest {:?} ({}); {} `script:` targets the corpus does not hold (older snapshots): {missing:?}",
        used.len(),
        slowest.0,
        slowest.1.display(),
        missing.len()
    );
    assert!(failures.is_empty(), "MMS plans that do not load:\n{failures}");
}
