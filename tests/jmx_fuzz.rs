//! Fuzzing the JMX reader with the harness runner of `fuzz/` (same `FUZZ_SECS` knob): the
//! hand-written fixture with bytes cut, inserted or swapped, arbitrary text, and `${…}`
//! templates from a small alphabet. Property: nothing panics, every error renders, and every
//! error's span lies inside the file.
//!
//! ```sh
//! FUZZ_SECS=600 cargo test --test integration jmx_fuzz -- --nocapture
//! ```

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use suite::config::Sources;
use suite::plan::jmx::{self, template};

use crate::fuzz::{catch_quietly, run};

const VALID: &str = include_str!("fixtures/jmx/all_elements.jmx");

/// Pieces that break XML, the hashTree layout or templates in interesting ways.
const PIECES: &[&str] = &[
    "<",
    ">",
    "/>",
    "&",
    "&amp;",
    "&#0;",
    "&#xD800;",
    "&bogus;",
    "\"",
    "<hashTree>",
    "</hashTree>",
    "<hashTree/>",
    "<stringProp name=\"x\">${__P(a,${b})}</stringProp>",
    "<intProp name=\"n\">x</intProp>",
    "<doubleProp><name>t</name></doubleProp>",
    "<![CDATA[${__Rnadom(]]>",
    "${",
    "${__",
    "\\",
    ",",
    ")",
    "}",
    "é",
    "\u{feff}",
    "testclass=\"JSR223Sampler\"",
    "enabled=\"false\"",
];

fn mutated() -> impl Strategy<Value = String> {
    let edit = (any::<usize>(), 0..4u8, select(PIECES), 1..40usize);
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut text = VALID.to_string();
        for (at, op, piece, len) in edits {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + len).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            match op {
                0 => text.truncate(at),
                1 => text.insert_str(at, piece),
                2 => text.replace_range(at..end, ""),
                _ => text.replace_range(at..end, piece),
            }
        }
        text
    })
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![1 => any::<String>(), 1 => "[<>/=\" a-zA-Z${}()_,\\\\]{0,200}", 6 => mutated()]
}

#[test]
fn jmx_fuzz_reader_never_panics_and_errors_point_into_the_file() {
    run("jmx", 300, input(), |text| {
        let outcome = catch_quietly(|| {
            let mut sources = Sources::new();
            let id = sources.add_pseudo("f.jmx", text.clone());
            let result = jmx::read_source(&sources, id, Path::new("f.jmx"));
            if let Err(errors) = &result {
                for e in errors {
                    let _ = e.render(&sources);
                    if let Some(span) = e.span {
                        assert!(span.end() <= text.len() && span.line >= 1, "span outside the file: {e:?}");
                    }
                }
            }
        });
        outcome.map_err(TestCaseError::fail)
    });
}

#[test]
fn jmx_fuzz_templates_never_panic_and_errors_are_inside_the_value() {
    let alphabet = "[${}()_,\\\\PaéRn0 ]{0,40}";
    let names = select(&["__P", "__Random", "__nope", "__UUID", "__intSum", "x", "__"][..]);
    let shaped = prop::collection::vec((names, alphabet), 1..5)
        .prop_map(|parts| parts.into_iter().map(|(n, a)| format!("${{{n}({a})}}{a}")).collect::<String>());
    run("jmx-template", 2000, prop_oneof![alphabet.prop_map(String::from), shaped], |value| {
        let outcome = catch_quietly(|| {
            if let Err(errors) = template::parse(&value) {
                for e in errors {
                    assert!(e.at.start <= e.at.end && e.at.end <= value.len(), "{e:?} outside {value:?}");
                    assert!(value.is_char_boundary(e.at.start) && value.is_char_boundary(e.at.end));
                }
            }
        });
        outcome.map_err(TestCaseError::fail)
    });
}
