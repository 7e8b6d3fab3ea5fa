//! Configuration: files merged with Taurus's rules into one tree that remembers where each value
//! came from.
//!
//! [`load`] reads the given files left to right (every YAML document of each), merging them onto
//! an empty tree with Taurus's rules ([`merge`]); then it merges the `included-configs`
//! ([`include`]), applies the `-o` overrides ([`overrides`]) and substitutes `${VAR}` in string
//! values ([`env`]). The result is a located tree ([`Node`]): every value keeps the [`Span`] of
//! the text that set it, in a file or in a pseudo-source such as `<override 1: -o …>`, so that
//! the later stages can read typed models with [`from_node`] and still report errors like
//!
//! ```text
//! error: unknown key `hold_for` in an execution
//!   --> suites/demo_criteria.yaml:4:5
//! ```

// Diagnostics (about 150 bytes) are returned by value on cold paths, once per problem found;
// boxing them everywhere would cost clarity and buy nothing.
#![allow(clippy::result_large_err)]

pub mod de;
pub mod diagnostic;
pub mod duration;
pub mod emit;
pub mod env;
pub mod include;
pub mod mask;
pub mod merge;
pub mod model;
pub mod node;
pub mod overrides;
pub mod scalar;
pub mod source;
pub mod value;
pub mod yaml;

use std::path::{Path, PathBuf};

pub use de::{from_node, Spanned};
pub use diagnostic::{suggest, suggest_within, suggestion, Diagnostic, Label, Severity};
pub use emit::to_yaml;
pub use node::{Map, Node, NodeKind, Style};
pub use source::{SourceFile, SourceId, Sources, Span};

/// What to load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Config files, merged left to right.
    pub files: Vec<PathBuf>,
    /// `-o path=value` overrides, applied in order after the files and their includes.
    pub overrides: Vec<String>,
    /// Variables predefined for `${…}` substitution (e.g. `TAURUS_ARTIFACTS_DIR`); they are
    /// written into `settings.env` and win over what the files say there.
    pub env: Vec<(String, String)>,
}

/// The merged configuration and everything needed to point into it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The effective tree (a mapping).
    pub root: Node,
    /// The texts of every file and pseudo-source the tree's spans point into.
    pub sources: Sources,
    /// Things worth telling that do not stop the run (e.g. duplicate keys).
    pub warnings: Vec<Diagnostic>,
    /// Every file read, in order, includes too.
    pub files: Vec<PathBuf>,
    /// `${NAME}` placeholders that nothing set, left as written (as Taurus does). An error
    /// about a value holding one is rendered as being about the variable (see [`Loaded::render`]).
    pub unset: Vec<env::Unset>,
}

impl Loaded {
    /// The effective configuration as YAML, secrets masked (for `effective.yml`).
    pub fn effective_yaml(&self) -> String {
        to_yaml(&mask::masked(&self.root))
    }

    /// A diagnostic rendered with source lines and carets.
    ///
    /// An error about a value that still holds an unset `${NAME}` is rendered as being about
    /// the variable, at the placeholder, with the original message as a note: "`${X}` is not a
    /// threshold" would hide that `X` was never defined.
    pub fn render(&self, d: &Diagnostic) -> String {
        self.explain(d).render(&self.sources)
    }

    /// A diagnostic as one `file:line:col: error: message` line (explained as by [`Loaded::render`]).
    pub fn one_line(&self, d: &Diagnostic) -> String {
        self.explain(d).one_line(&self.sources)
    }

    /// `d`, or, if it is an error inside a value holding an unset placeholder, the error about
    /// that variable.
    pub fn explain(&self, d: &Diagnostic) -> Diagnostic {
        let Some(span) = d.span.filter(|_| d.is_error()) else {
            return d.clone();
        };
        let inside = |u: &&env::Unset| {
            u.span.source == span.source
                && u.span.offset <= span.offset
                && span.offset + span.len <= u.span.offset + u.span.len.max(1)
        };
        let candidates: Vec<&env::Unset> = self.unset.iter().filter(inside).collect();
        let slice = self.sources.slice(span);
        // The placeholder the error points at, else the first one of the value.
        let Some(unset) =
            candidates.iter().find(|u| slice.contains(&format!("${{{}}}", u.name))).or_else(|| candidates.first())
        else {
            return d.clone();
        };
        let placeholder = format!("${{{}}}", unset.name);
        let value_text = self.sources.slice(unset.span);
        let at = match value_text.find(&placeholder) {
            Some(i) => self.sources.span(unset.span.source, unset.span.offset + i, placeholder.len()),
            None => span,
        };
        let mut explained = Diagnostic::error(
            at,
            format!("`{placeholder}` is not set: define it in settings.env, the environment, or an --env-name profile"),
        )
        .with_note(format!("the value keeps the text `{placeholder}`, so: {}", d.message));
        explained.notes.extend(d.notes.iter().cloned());
        explained.labels = d.labels.clone();
        explained.help = d.help.clone();
        explained
    }
}

/// Loads, merges, overrides and substitutes; see the module docs for the order.
///
/// On failure every error found is returned; render them with [`render_all`].
pub fn load(opts: &LoadOptions) -> Result<Loaded, Vec<Diagnostic>> {
    load_with(opts, &os_env).map_err(|(errors, _)| errors)
}

/// Renders the errors of a failed [`load`] with the same options.
///
/// Loading is deterministic, so reading the files again registers the same sources in the same
/// order and the errors' spans point into them (if a file changed in between, the carets may be
/// off, but nothing fails).
pub fn render_all(opts: &LoadOptions, diags: &[Diagnostic]) -> String {
    let sources = match load_with(opts, &os_env) {
        Ok(loaded) => loaded.sources,
        Err((_, sources)) => sources,
    };
    diags.iter().map(|d| d.render(&sources)).collect()
}

fn os_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// [`load`] with an injectable OS environment (for tests); a failure comes with the sources
/// read so far, which its errors point into.
pub fn load_with(
    opts: &LoadOptions,
    os_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, (Vec<Diagnostic>, Sources)> {
    let mut loader = Loader::default();
    for file in &opts.files {
        loader.load_file(file, None);
    }
    if loader.errors.is_empty() {
        include::load_includes(&mut loader, Path::new(""));
    }
    if !loader.errors.is_empty() {
        return Err((loader.errors, loader.sources));
    }
    let Loader { mut sources, root, mut warnings, files, first_file, .. } = loader;
    let mut root = match (root, first_file) {
        (Some(root), _) => root,
        // Only empty files: errors about the empty tree point at the first of them.
        (None, Some(id)) => Node::empty_map(sources.whole(id)),
        (None, None) => {
            let id = sources.add_pseudo("<empty configuration>", "");
            Node::empty_map(sources.whole(id))
        }
    };
    if let Err(e) = overrides::apply_all(&mut root, &opts.overrides, &mut sources, &mut warnings) {
        return Err((vec![e], sources));
    }
    let resolution = env::resolve(&mut root, &opts.env, os_env, &mut sources, &mut warnings);
    if !resolution.errors.is_empty() {
        return Err((resolution.errors, sources));
    }
    Ok(Loaded { root, sources, warnings, files, unset: resolution.unset })
}

/// Reads files and merges them into one tree, collecting errors as it goes.
#[derive(Default)]
pub(crate) struct Loader {
    pub(crate) sources: Sources,
    /// `None` until the first non-empty document.
    pub(crate) root: Option<Node>,
    pub(crate) warnings: Vec<Diagnostic>,
    pub(crate) errors: Vec<Diagnostic>,
    /// Files read, as named.
    pub(crate) files: Vec<PathBuf>,
    /// Files read, canonicalized, to load each include once.
    canonical: Vec<PathBuf>,
    /// The first file read, which names the configuration when every file is empty.
    first_file: Option<SourceId>,
}

impl Loader {
    /// Reads, parses and merges one file; `origin` is the `included-configs` item naming it.
    pub(crate) fn load_file(&mut self, path: &Path, origin: Option<Span>) {
        self.canonical.push(canonical(path));
        let text = match crate::fsutil::read_regular(path, crate::fsutil::CONFIG_CAP) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => return self.fail(origin, format!("config file `{}` is not UTF-8 text", path.display())),
            },
            Err(e) => return self.fail(origin, format!("config file {e}")),
        };
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => text,
        };
        self.files.push(path.to_path_buf());
        let id = self.sources.add_file(path, text);
        self.first_file.get_or_insert(id);
        match yaml::parse_config(&self.sources, id) {
            Ok(parsed) => {
                self.warnings.extend(parsed.warnings);
                for doc in parsed.docs {
                    let root = self.root.get_or_insert_with(|| Node::empty_map(doc.span));
                    merge::merge(root, doc, &mut self.warnings);
                }
            }
            Err(e) => self.errors.push(e),
        }
    }

    fn fail(&mut self, origin: Option<Span>, message: String) {
        self.errors.push(match origin {
            Some(span) => Diagnostic::error(span, message),
            None => Diagnostic::error_unlocated(message),
        });
    }

    /// Whether this file was read already.
    pub(crate) fn already_loaded(&self, path: &Path) -> bool {
        self.canonical.contains(&canonical(path))
    }

    /// Directories of the files read so far, in order, without repeats.
    pub(crate) fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for file in &self.files {
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::testing::shared;

    /// `name` in the shared Taurus corpus, `None` (the test skips) when `../shared` is absent.
    fn corpus(name: &str) -> Option<PathBuf> {
        shared().map(|s| s.join("corpus/taurus").join(name))
    }

    fn opts(files: &[&Path], overrides: &[&str]) -> LoadOptions {
        LoadOptions {
            files: files.iter().map(|p| p.to_path_buf()).collect(),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn includes_are_recursive() {
        let Some(dir) = corpus("tr-yaml__includes") else {
            return;
        };
        let loaded = load_with(&opts(&[&dir.join("included-level1.yml")], &[]), &no_env).unwrap();
        for key in ["level1", "level2", "level3"] {
            assert_eq!(loaded.root.get(key).and_then(Node::as_bool), Some(true), "{key}");
        }
        let includes: Vec<&str> = loaded
            .root
            .get("included-configs")
            .and_then(Node::as_seq)
            .unwrap()
            .iter()
            .filter_map(Node::as_str)
            .collect();
        assert_eq!(includes, ["included-level2.yml", "included-level3.yml"]);
        assert_eq!(loaded.files.len(), 3);
    }

    #[test]
    fn circular_includes_end() {
        let Some(dir) = corpus("tr-yaml__includes") else {
            return;
        };
        let loaded = load_with(&opts(&[&dir.join("included-circular1.yml")], &[]), &no_env).unwrap();
        assert_eq!(loaded.root.get("level1").and_then(Node::as_bool), Some(true));
        assert_eq!(loaded.root.get("level2").and_then(Node::as_bool), Some(true));
        assert_eq!(loaded.files.len(), 2, "each file is read once");
        let includes: Vec<&str> = loaded
            .root
            .get("included-configs")
            .and_then(Node::as_seq)
            .unwrap()
            .iter()
            .filter_map(Node::as_str)
            .collect();
        assert_eq!(includes, ["included-circular2.yml", "included-circular1.yml"]);
    }

    #[test]
    fn obs07_merge_overrides_includes_and_env() {
        let Some(shared) = shared() else { return };
        let dir = shared.join("reference/taurus-observed");
        let expected = fs::read_to_string(dir.join("obs07-out-effective-excerpt.yml")).unwrap();
        let options = opts(
            &[&dir.join("obs07-merge-a.yml"), &dir.join("obs07-merge-b.yml")],
            &[
                "execution.0.iterations=5",
                "execution.-1={concurrency: 3, scenario: s2}",
                "scenarios.s.^requests-extra=",
                "scenarios.*think-time=2s",
            ],
        );
        let loaded = load_with(&options, &no_env).unwrap_or_else(|(e, _)| panic!("{e:?}"));
        // `$requests` replaced a string item with a mapping: Taurus warns, so do we.
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        assert!(loaded
            .one_line(&loaded.warnings[0])
            .contains("obs07-merge-b.yml:9:7: warning: overwriting item 0 of `requests`"));

        let mut expected: serde_yaml::Value = serde_yaml::from_str(&expected).unwrap();
        // Taurus's base config adds `final-stats` and `console` reporters we do not have.
        if let Some(reporting) = expected.get_mut("reporting").and_then(|r| r.as_sequence_mut()) {
            reporting.retain(|r| !matches!(r.as_str(), Some("final-stats" | "console")));
        }
        let ours = loaded.root.to_value();
        for key in ["execution", "scenarios", "included-configs", "reporting"] {
            assert_eq!(ours.get(key), expected.get(key), "`{key}` differs:\n{}", loaded.effective_yaml());
        }
        // Values still point where they were written.
        let a2 = loaded.root.pointer(["scenarios", "s", "requests", "0", "url"]).unwrap();
        assert_eq!(loaded.sources.slice(a2.span), "http://${HOST}/a2");
        let timeout = loaded.root.pointer(["scenarios", "s", "timeout"]).unwrap();
        assert!(loaded.sources.name(timeout.span.source).ends_with("inc.yml"));
    }

    #[test]
    fn missing_files_and_includes_are_errors() {
        let (errors, _) = load_with(&opts(&[Path::new("/nonexistent/x.yml")], &[]), &no_env).unwrap_err();
        assert_eq!(errors[0].render(&Sources::new()), "error: config file `/nonexistent/x.yml` does not exist\n");

        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("main.yml");
        fs::write(&main, "execution: []\nincluded-configs:\n- nope.yml\n- https://example.com/x.yml\n").unwrap();
        let options = opts(&[&main], &[]);
        let (errors, sources) = load_with(&options, &no_env).unwrap_err();
        assert_eq!(errors.len(), 2);
        let rendered = errors[0].render(&sources);
        let name = main.display().to_string();
        assert_eq!(
            rendered,
            format!(
                "error: included config `nope.yml` not found
  --> {name}:3:3
   |
 3 | - nope.yml
   |   ^^^^^^^^
   = note: looked in: ., {}
",
                tmp.path().display()
            )
        );
        assert_eq!(
            errors[1].one_line(&sources),
            format!(
                "{name}:4:3: error: cannot include `https://example.com/x.yml`: configs are only read from local files"
            )
        );
        assert_eq!(render_all(&options, &errors[..1]), rendered, "render_all reads the same sources again");
    }

    #[test]
    fn syntax_errors_render_through_render_all() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("bad.yml");
        fs::write(&file, "execution:\n- concurrency: [1\n").unwrap();
        let options = opts(&[&file], &[]);
        let errors = load(&options).unwrap_err();
        let text = render_all(&options, &errors);
        assert!(text.starts_with("error: invalid YAML"), "{text}");
        assert!(text.contains(&format!("--> {}:", file.display())), "{text}");
    }

    #[test]
    fn effective_yaml_masks_secrets_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("t.yml");
        fs::write(
            &file,
            "scenarios:\n  s:\n    headers:\n      Authorization: Bearer x\n    variables: {flag: 'yes'}\nsettings:\n  env:\n    API_TOKEN: abc\n",
        )
        .unwrap();
        let mut options = opts(&[&file], &["settings.env.PORT=8080"]);
        options.env.push(("TAURUS_ARTIFACTS_DIR".into(), "/tmp/art".into()));
        let loaded = load(&options).unwrap();
        let text = loaded.effective_yaml();
        assert_eq!(
            text,
            "scenarios:
  s:
    headers:
      Authorization: '********'
    variables:
      flag: 'yes'
settings:
  env:
    API_TOKEN: '********'
    PORT: 8080
    TAURUS_ARTIFACTS_DIR: /tmp/art
"
        );
        let back = tmp.path().join("effective.yml");
        fs::write(&back, &text).unwrap();
        let reread = load(&opts(&[&back], &[])).unwrap();
        assert!(reread.root == mask::masked(&loaded.root));
    }

    #[test]
    fn multi_document_files_merge_every_document() {
        let Some(path) = corpus("tr-yaml__multi-docs.yml") else {
            return;
        };
        let loaded = load_with(&opts(&[&path], &[]), &no_env).unwrap();
        let executors: Vec<&str> = loaded
            .root
            .get("execution")
            .and_then(Node::as_seq)
            .unwrap()
            .iter()
            .filter_map(|e| e.get("executor").and_then(Node::as_str))
            .collect();
        assert_eq!(executors, ["jmeter", "gatling"], "the JSON document's list is appended");
    }

    #[test]
    fn a_span_pointing_nowhere_renders_without_panicking() {
        let d = Diagnostic::error(Span::default(), "built in code");
        assert_eq!(d.render(&Sources::new()), "error: built in code\n  --> <unknown>:0:0\n   |\n");
    }

    #[test]
    fn errors_inside_an_unset_placeholder_name_the_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("t.yml");
        fs::write(&file, "a: x ${NOPE} y\nb: ${NOPE}\n").unwrap();
        let loaded = load_with(&opts(&[&file], &[]), &no_env).unwrap_or_else(|(e, _)| panic!("{e:?}"));
        let a = loaded.root.get("a").unwrap().span;
        let d = Diagnostic::error(a, "`x ${NOPE} y` is not a number").with_help("write a number");
        let explained = loaded.explain(&d);
        assert_eq!(
            explained.message,
            "`${NOPE}` is not set: define it in settings.env, the environment, or an --env-name profile"
        );
        assert_eq!((explained.span.unwrap().col, explained.span.unwrap().len), (6, 7), "at the placeholder");
        assert_eq!(explained.notes, ["the value keeps the text `${NOPE}`, so: `x ${NOPE} y` is not a number"]);
        assert!(loaded.render(&d).starts_with("error: `${NOPE}` is not set"));
        // Warnings, and errors about other values, are left alone.
        let b = loaded.root.key_span("b").unwrap();
        assert_eq!(loaded.explain(&Diagnostic::error(b, "other")), Diagnostic::error(b, "other"));
        assert_eq!(loaded.explain(&Diagnostic::warning(a, "w")), Diagnostic::warning(a, "w"));
    }

    #[test]
    fn no_files_give_an_empty_mapping() {
        let loaded = load(&LoadOptions::default()).unwrap();
        assert_eq!(loaded.effective_yaml(), "{}\n");
    }

    #[test]
    fn every_corpus_config_loads() {
        let Some(shared) = shared() else { return };
        let mut paths: Vec<PathBuf> = fs::read_dir(shared.join("corpus/taurus"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml" || e == "json"))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().contains("body-file")))
            .collect();
        for sub in ["corpus/mms", "corpus/torchserve"] {
            collect_yaml(&shared.join(sub), &mut paths);
        }
        paths.sort();
        let mut failures = Vec::new();
        for path in &paths {
            if let Err((errors, sources)) = load_with(&opts(&[path], &[]), &no_env) {
                failures.extend(errors.iter().map(|e| e.render(&sources)));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                collect_yaml(&path, out);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }
}
