//! CSV data sources (`data-sources`), read and checked before the load starts so a broken file
//! is an error with its line, never a surprise mid-test. Rows are handed out by the engine: each
//! iteration of a virtual user takes the next row, shared by the users of an execution, as
//! JMeter's CSV Data Set does.

/// A CSV file ready to hand out.
#[derive(Debug)]
pub struct DataSource {
    /// The path as written in the config, for messages.
    pub name: String,
    /// Variable names, one per column.
    pub names: Vec<String>,
    /// The rows (each at least as long as `names`).
    pub rows: Vec<Vec<String>>,
    /// Start over at the end of the file (`loop`, default true); otherwise a user stops there.
    pub recycle: bool,
    /// Hand rows out in a shuffled order (`random-order`).
    pub random_order: bool,
}

/// How to read a CSV file.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// Field separator; guessed from the first line when `None`.
    pub delimiter: Option<u8>,
    /// Whether `"` quotes fields (`quoted`, default false as in Taurus).
    pub quoted: bool,
    /// Column names; the first line when `None`.
    pub names: Option<Vec<String>>,
}

/// Why a CSV file cannot be used: the 1-based line at fault (0 for the whole file) and what is wrong.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CsvError {
    /// Line in the CSV file.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Reads a `delimiter` value: one character, or `tab` / `\t`.
pub fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "tab" | "\\t" | "\t" => Some(b'\t'),
        s if s.len() == 1 && s.is_ascii() => Some(s.as_bytes()[0]),
        _ => None,
    }
}

/// The separator that splits the first line most often (Taurus guesses the dialect too); `,` when none does.
fn guess_delimiter(text: &str) -> u8 {
    let first = text.lines().next().unwrap_or("");
    [b',', b';', b'\t', b'|']
        .into_iter()
        .map(|d| (first.bytes().filter(|b| *b == d).count(), d))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, d)| (*n, *d == b','))
        .map_or(b',', |(_, d)| d)
}

/// Parses the text of a CSV file into column names and rows.
pub fn parse(text: &str, opts: &CsvOptions) -> Result<(Vec<String>, Vec<Vec<String>>), CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let delimiter = opts.delimiter.unwrap_or_else(|| guess_delimiter(text));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(opts.quoted)
        .from_reader(text.as_bytes());
    let mut names = opts.names.clone();
    let from_header = names.is_none();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| CsvError {
            line: e.position().map_or(0, |p| p.line()),
            message: match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text".to_string(),
                _ => e.to_string(),
            },
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<String> = record.iter().map(str::to_string).collect();
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        let Some(names) = &names else {
            if let Some(dup) = fields.iter().enumerate().find(|(i, f)| fields[..*i].contains(f)).map(|(_, f)| f) {
                return Err(CsvError { line, message: format!("the header names column `{dup}` twice") });
            }
            names = Some(fields.into_iter().map(|f| f.trim().to_string()).collect());
            continue;
        };
        // Fewer fields than names would leave variables unset; more are fine with explicit names
        // (JMeter ignores extra columns) but hint at a wrong delimiter or quoting with a header.
        if fields.len() < names.len() || (from_header && fields.len() > names.len()) {
            return Err(CsvError {
                line,
                message: format!(
                    "{} field{} where {} {} expected ({}){}",
                    fields.len(),
                    if fields.len() == 1 { "" } else { "s" },
                    names.len(),
                    if names.len() == 1 { "is" } else { "are" },
                    names.join(", "),
                    if from_header { "; check `delimiter` and `quoted`" } else { "" }
                ),
            });
        }
        rows.push(fields);
    }
    let names = names.unwrap_or_default();
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(CsvError {
            line: 1,
            message: "the file has no column names (an empty header line or file)".into(),
        });
    }
    if rows.is_empty() {
        return Err(CsvError { line: 0, message: "the file has no data rows".into() });
    }
    Ok((names, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_and_guessed_delimiter() {
        let (names, rows) = parse("user;pass\nu1;p1\n\nu2;p2\n", &CsvOptions::default()).unwrap();
        assert_eq!(names, vec!["user", "pass"]);
        assert_eq!(rows, vec![vec!["u1", "p1"], vec!["u2", "p2"]]);
    }

    #[test]
    fn explicit_names_read_every_line_and_quotes_are_optional() {
        let opts = CsvOptions { delimiter: Some(b','), quoted: true, names: Some(vec!["a".into(), "b".into()]) };
        let (_, rows) = parse("\"x,1\",y\n2,3,extra\n", &opts).unwrap();
        assert_eq!(rows, vec![vec!["x,1", "y"], vec!["2", "3", "extra"]]);
        let opts = CsvOptions { quoted: false, ..opts };
        let (_, rows) = parse("\"q\",y\n", &opts).unwrap();
        assert_eq!(rows[0][0], "\"q\"");
    }

    #[test]
    fn short_rows_are_errors_with_their_line() {
        let e = parse("id,name\n1,a\n2\n", &CsvOptions::default()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("1 field where 2 are expected (id, name)"), "{}", e.message);
        let e = parse("id\n", &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("no data rows"));
        let e = parse("a,a\n1,2\n", &CsvOptions::default()).unwrap_err();
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter("tab"), Some(b'\t'));
        assert_eq!(parse_delimiter("\\t"), Some(b'\t'));
        assert_eq!(parse_delimiter(";"), Some(b';'));
        assert_eq!(parse_delimiter(",,"), None);
        assert_eq!(guess_delimiter("a\tb\tc\n"), b'\t');
        assert_eq!(guess_delimiter("url\n"), b',');
    }
}
