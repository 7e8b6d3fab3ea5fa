//! The criteria grammar: `parse_short` on arbitrary strings, on criteria assembled from the
//! grammar's parts, and on mutations of valid criteria; `from_dict` on arbitrary fields.
//!
//! Properties: nothing panics; an error's span is a valid range of the text (the config layer
//! slices the file with it); a parsed criterion's `text` parses again to the same criterion.

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use suite::criteria::{from_dict, parse_short, DictForm, Flag, Scalar};

use super::run;

/// Valid criteria to mutate (README, Taurus's passfail.json, MMS suites).
const VALID: &[&str] = &[
    "avg-rt of IndexPage>150ms for 10s, stop as failed",
    "fail of CheckoutPage>50% for 10s, stop as failed",
    "My criteria description: avg-rt of label>100ms for 1m, continue as non-failed",
    "avg-rt of double label>100ms for 1m, continue as non-failed",
    "rc4??>50%",
    "rc4*>50% within 5s",
    "p88>50",
    "p99.99>50 over 3s",
    "concurr>=10 for 15s, stop as non-failed",
    "success of HealthCheck<100%, stop as failed",
    "bytes of my-label>10MB",
    "hits>=5 within 3s",
    "avg-rt-corrected>1s",
    "p99-lag>20ms for 2s, continue",
    "'Too many errors: fail>1%'",
];

/// Pieces the grammar is made of, valid and almost valid.
const SUBJECTS: &[&str] = &[
    "avg-rt",
    "avg-lt",
    "avg-ct",
    "stdev-rt",
    "p90",
    "p99.9",
    "p100",
    "p101",
    "p",
    "hits",
    "succ",
    "success",
    "fail",
    "failures",
    "rc404",
    "rc4??",
    "rc*",
    "bytes",
    "concurrency",
    "concurr",
    "avg-lag",
    "p99-lag",
    "p50-corrected",
    "local/cpu",
    "xyz",
    "",
    "-",
    "*",
    "ÄÖ",
];
const CONDITIONS: &[&str] = &[">", "<", ">=", "<=", "=", "==", "=>", "<>", "", " > ", "> ="];
const THRESHOLDS: &[&str] = &[
    "150ms",
    "1s",
    "2s500ms",
    "50%",
    "200%",
    "-1",
    "-1ms",
    "0",
    "0%",
    "100%",
    "10MB",
    "2k",
    "inf",
    "nan",
    "1e3",
    "1.5",
    "99999999999999999999d",
    "",
    "%",
    "-",
    "1..2",
    "${T}",
    "9999999999999999999999999999999999999999",
];
const LOGIC: &[&str] = &["for", "within", "over", "FOR", "fr", ""];
const TIMEFRAMES: &[&str] = &["10s", "1", "0s", "-1", "0", "1m30s", "99999999999999999999d", "inf", "", "x", "500ms"];
const ACTIONS: &[&str] = &[
    "",
    ", stop",
    ", continue",
    ", stop as failed",
    ", continue as non-failed",
    ", continue as passed",
    ",",
    ", STOP",
    ", stop as",
    ", stop as failed extra",
];

/// Characters that matter to the grammar, plus some that do not.
const ALPHABET: &[char] = &[
    '<', '>', '=', ':', ',', '%', ' ', '.', '-', '?', '*', '/', '0', '9', 's', 'm', 'o', 'f', '\t', '\n', 'é', '€',
    '\'',
];

fn assembled() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(String::new()), "[a-zA-Z ]{0,12}".prop_map(|m| format!("{m}: "))],
        select(SUBJECTS),
        prop_oneof![Just(String::new()), "[a-zA-Z0-9 :,_-]{0,12}".prop_map(|l| format!(" of {l}"))],
        select(CONDITIONS),
        select(THRESHOLDS),
        prop_oneof![Just(String::new()), (select(LOGIC), select(TIMEFRAMES)).prop_map(|(l, t)| format!(" {l} {t}"))],
        select(ACTIONS),
    )
        .prop_map(|(m, s, l, c, t, w, a)| format!("{m}{s}{l}{c}{t}{w}{a}"))
}

/// One edit of a criterion: where (a fraction of its length) and what.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, char),
    Delete(usize, usize),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![3 => select(ALPHABET), 1 => any::<char>()];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), 1..6usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), 1..12usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *edit {
            Edit::Insert(i, c) => chars.insert(at(i, chars.len()), c),
            Edit::Delete(i, n) => {
                let start = at(i, chars.len());
                chars.drain(start..(start + n).min(chars.len()));
            }
            Edit::Replace(i, c) if !chars.is_empty() => {
                let i = i % chars.len();
                chars[i] = c;
            }
            Edit::Replace(..) => {}
            Edit::Duplicate(i, n) => {
                let start = at(i, chars.len());
                let piece: Vec<char> = chars[start..(start + n).min(chars.len())].to_vec();
                chars.splice(start..start, piece);
            }
        }
    }
    chars.into_iter().collect()
}

fn mutated() -> impl Strategy<Value = String> {
    (select(VALID), prop::collection::vec(edit(), 1..5)).prop_map(|(base, edits)| apply(base, &edits))
}

fn criterion_text() -> impl Strategy<Value = String> {
    prop_oneof![2 => any::<String>(), 1 => "\\PC{0,60}", 4 => assembled(), 4 => mutated()]
}

/// The short-form properties for one text.
fn check_short(text: &str) -> Result<(), TestCaseError> {
    match parse_short(text) {
        Ok(spec) => {
            let again = parse_short(&spec.text);
            prop_assert_eq!(again.as_ref(), Ok(&spec), "`text` of {:?} does not parse back", text);
            prop_assert!(!spec.threshold.is_nan(), "NaN threshold from {:?}", text);
        }
        Err(e) => {
            prop_assert!(text.get(e.span.clone()).is_some(), "span {:?} is not a range of {:?}", e.span, text);
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

#[test]
fn short_form_never_panics_and_round_trips() {
    run("criteria short form", 8192, criterion_text(), |text| check_short(&text));
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<i64>().prop_map(Scalar::Int),
        any::<f64>().prop_map(Scalar::Float),
        select(THRESHOLDS).prop_map(|s| Scalar::Str(s.to_string())),
        select(TIMEFRAMES).prop_map(|s| Scalar::Str(s.to_string())),
        "\\PC{0,12}".prop_map(Scalar::Str),
    ]
}

fn dict() -> impl Strategy<Value = DictForm> {
    let word = |pool: &'static [&'static str]| {
        prop::option::of(prop_oneof![3 => select(pool).prop_map(str::to_string), 1 => "\\PC{0,10}"])
    };
    let class =
        &["bzt.modules.monitoring.MonitoringCriteria", "bzt.modules.passfail.DataCriterion", "x.MonitoringCriteria"];
    (
        (word(SUBJECTS), prop::option::of(scalar()), word(CONDITIONS), prop::option::of(scalar())),
        (word(LOGIC), prop::option::of(scalar()), prop::option::of(any::<bool>()), word(class)),
        (prop::option::of(scalar()), prop::option::of(scalar())),
    )
        .prop_map(|((subject, label, condition, threshold), (logic, timeframe, stop, class), (d1, d2))| DictForm {
            subject,
            label,
            condition,
            threshold,
            logic,
            timeframe,
            stop: stop.map(Flag),
            fail: None,
            message: None,
            class,
            diff_percent: d1,
            diff_percent_previous: d2,
        })
}

#[test]
fn dict_form_never_panics() {
    run("criteria dict form", 4096, dict(), |d| {
        if let Ok(spec) = from_dict(d) {
            prop_assert!(!spec.threshold.is_nan() || spec.threshold_text.to_lowercase().contains("nan"));
        }
        Ok(())
    });
}
