//! JMeter's `${…}` strings, parsed (not evaluated): literal text, variable references
//! `${name}` and function calls `${__name(arg1,arg2)}`, whose arguments are templates again.
//!
//! The grammar follows JMeter's `FunctionParser`:
//! - `\$`, `\,` and `\\` stand for `$`, `,` and `\`; any other backslash is kept as written.
//! - `${__name(…)}` or `${__name}` is a function call; the arguments are split at commas that
//!   are outside nested `${…}` and parentheses; whitespace in arguments is kept.
//! - `${anything else}` is a variable reference; a `${` that is never closed is literal text.
//!
//! Only the functions in [`FUNCTIONS`] are accepted, with their arity; anything else is an
//! error at its offset in the value.

use std::ops::Range;

/// A parsed string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Template {
    /// The pieces in order.
    pub segments: Vec<Segment>,
}

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Text taken as is (escapes resolved).
    Literal(String),
    /// `${name}`.
    Var {
        /// The variable's name.
        name: String,
        /// Byte range of `${…}` in the value.
        at: Range<usize>,
    },
    /// `${__name(args)}`.
    Call {
        /// Which function.
        function: Function,
        /// Its arguments (templates themselves).
        args: Vec<Template>,
        /// Byte range of `${…}` in the value.
        at: Range<usize>,
    },
}

/// A supported JMeter function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `__P(name[,default])`: a JMeter property.
    P,
    /// `__property(name[,variable[,default]])`: a JMeter property.
    Property,
    /// `__counter(TRUE|FALSE[,variable])`: per-user or global counter.
    Counter,
    /// `__threadNum`: the virtual user's number, from 1.
    ThreadNum,
    /// `__Random(min,max[,variable])`.
    Random,
    /// `__RandomString(length[,chars[,variable]])`.
    RandomString,
    /// `__UUID`.
    Uuid,
    /// `__time([format[,variable]])`.
    Time,
    /// `__intSum(a,b[,…][,variable])`.
    IntSum,
    /// `__urlencode(text)`.
    UrlEncode,
}

/// Every supported function: JMeter name, minimum and maximum argument count.
pub const FUNCTIONS: &[(&str, Function, usize, usize)] = &[
    ("__P", Function::P, 1, 2),
    ("__property", Function::Property, 1, 3),
    ("__counter", Function::Counter, 1, 2),
    ("__threadNum", Function::ThreadNum, 0, 0),
    ("__Random", Function::Random, 2, 3),
    ("__RandomString", Function::RandomString, 1, 3),
    ("__UUID", Function::Uuid, 0, 0),
    ("__time", Function::Time, 0, 2),
    ("__intSum", Function::IntSum, 2, usize::MAX),
    ("__urlencode", Function::UrlEncode, 1, 1),
];

impl Function {
    /// JMeter's name, e.g. `__P`.
    pub fn name(self) -> &'static str {
        FUNCTIONS.iter().find(|f| f.1 == self).map_or("", |f| f.0)
    }
}

/// A problem in a template, at a byte range of the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Where in the value.
    pub at: Range<usize>,
    /// One line, lower-case.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl Template {
    /// Whether the template is plain text (no variables or functions).
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
    }

    /// The text when [`Template::is_literal`].
    pub fn as_literal(&self) -> Option<String> {
        self.is_literal().then(|| {
            self.segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(t) => t.as_str(),
                    _ => "",
                })
                .collect()
        })
    }
}

/// Parses `value`; every error found is returned.
pub fn parse(value: &str) -> Result<Template, Vec<TemplateError>> {
    let mut errors = Vec::new();
    let template = compile(value, 0, &mut errors);
    if errors.is_empty() {
        Ok(template)
    } else {
        Err(errors)
    }
}

/// `s` (which starts at `base` in the whole value) as a template.
fn compile(s: &str, base: usize, errors: &mut Vec<TemplateError>) -> Template {
    let bytes = s.as_bytes();
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < s.len() {
        match bytes[i] {
            b'\\' if matches!(bytes.get(i + 1), Some(b'$' | b',' | b'\\')) => {
                text.push(bytes[i + 1] as char);
                i += 2;
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => match reference(s, i, base, errors) {
                Some((segment, end)) => {
                    if !text.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut text)));
                    }
                    segments.push(segment);
                    i = end;
                }
                None => {
                    text.push('$');
                    i += 1;
                }
            },
            _ => {
                let c = s[i..].chars().next().unwrap_or_default();
                text.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Literal(text));
    }
    Template { segments }
}

/// The `${…}` starting at `start`, and the offset after it; `None` if it is never closed (then
/// JMeter keeps the text).
fn reference(s: &str, start: usize, base: usize, errors: &mut Vec<TemplateError>) -> Option<(Segment, usize)> {
    let bytes = s.as_bytes();
    let inner = start + 2;
    let name_end = s[inner..].find(['(', '}']).map(|n| inner + n)?;
    let name = &s[inner..name_end];
    if !name.starts_with("__") {
        // A variable: everything up to the first `}`.
        let close = s[inner..].find('}').map(|n| inner + n)?;
        let at = base + start..base + close + 1;
        return Some((Segment::Var { name: s[inner..close].to_string(), at }, close + 1));
    }
    let (args, end) = if bytes[name_end] == b'(' {
        let (args, close_paren) = split_args(s, name_end + 1)?;
        if bytes.get(close_paren + 1) != Some(&b'}') {
            return None;
        }
        (args, close_paren + 2)
    } else {
        (Vec::new(), name_end + 1)
    };
    let at = base + start..base + end;
    let Some(&(_, function, min, max)) = FUNCTIONS.iter().find(|f| f.0 == name) else {
        let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.0).collect();
        errors.push(TemplateError {
            at: at.clone(),
            message: format!("unknown or unsupported JMeter function `{name}`"),
            help: Some(
                crate::config::suggestion(name, &names)
                    .unwrap_or_else(|| format!("supported functions: {}", crate::config::diagnostic::list_or(&names))),
            ),
        });
        return Some((Segment::Literal(s[start..end].to_string()), end));
    };
    // `${__UUID()}` has one empty argument as written, and none as meant.
    let given = if args.len() == 1 && args[0].1.is_empty() { 0 } else { args.len() };
    if given < min || given > max {
        let wanted = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, usize::MAX) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        errors.push(TemplateError {
            at: at.clone(),
            message: format!("`{name}` takes {wanted} argument(s), not {given}"),
            help: None,
        });
    }
    let args = if given == 0 {
        Vec::new()
    } else {
        args.into_iter().map(|(offset, text)| compile(text, base + offset, errors)).collect()
    };
    Some((Segment::Call { function, args, at }, end))
}

/// The arguments from `from` up to the closing `)`: (offset, raw text) each, and the offset of
/// the `)`. Commas inside `${…}` or parentheses, and escaped ones, do not split.
fn split_args(s: &str, from: usize) -> Option<(Vec<(usize, &str)>, usize)> {
    let bytes = s.as_bytes();
    let (mut braces, mut parens) = (0usize, 0usize);
    let mut args = Vec::new();
    let mut arg_start = from;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                braces += 1;
                i += 1;
            }
            b'}' if braces > 0 => braces -= 1,
            b'(' if braces == 0 => parens += 1,
            b')' if braces == 0 && parens > 0 => parens -= 1,
            b')' if braces == 0 => {
                args.push((arg_start, &s[arg_start..i]));
                return Some((args, i));
            }
            b',' if braces == 0 && parens == 0 => {
                args.push((arg_start, &s[arg_start..i]));
                arg_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }

    #[test]
    fn literals_variables_and_escapes() {
        assert_eq!(parse("").unwrap().segments, vec![]);
        assert_eq!(parse("/ping").unwrap().as_literal().as_deref(), Some("/ping"));
        let t = parse("/models/${model}?w=${n}").unwrap();
        assert_eq!(
            t.segments,
            vec![
                lit("/models/"),
                Segment::Var { name: "model".into(), at: 8..16 },
                lit("?w="),
                Segment::Var { name: "n".into(), at: 19..23 },
            ]
        );
        // `\$` `\,` `\\` are escapes; other backslashes stay (regexes).
        assert_eq!(parse(r"a\${x}\,\\\d").unwrap().as_literal().as_deref(), Some(r"a${x},\\d"));
        // A `${` that is never closed is text.
        assert_eq!(parse("cost: ${ 5").unwrap().as_literal().as_deref(), Some("cost: ${ 5"));
        assert_eq!(parse("${__P(x,1)").unwrap().as_literal().as_deref(), Some("${__P(x,1)"));
    }

    #[test]
    fn function_calls_with_nested_arguments() {
        let t = parse("${__P(hostname,127.0.0.1)}").unwrap();
        let Segment::Call { function, args, at } = &t.segments[0] else { panic!("{t:?}") };
        assert_eq!((*function, at.clone()), (Function::P, 0..26));
        assert_eq!(args[0].as_literal().as_deref(), Some("hostname"));
        assert_eq!(args[1].as_literal().as_deref(), Some("127.0.0.1"));

        // Nested calls, commas inside them and escaped commas do not split; spaces are kept.
        let t = parse(r"${__P(a,${__P(b,1\,2)})}-${__counter(FALSE, )}").unwrap();
        let Segment::Call { args, .. } = &t.segments[0] else { panic!() };
        assert_eq!(args.len(), 2);
        let Segment::Call { function: Function::P, args: inner, .. } = &args[1].segments[0] else { panic!() };
        assert_eq!(inner[1].as_literal().as_deref(), Some("1,2"));
        let Segment::Call { function: Function::Counter, args, .. } = &t.segments[2] else { panic!() };
        assert_eq!(args[1].as_literal().as_deref(), Some(" "));

        // Parentheses inside an argument, no-argument forms.
        let t = parse("${__P(x,f(1,2))}${__threadNum}${__UUID()}${__time()}").unwrap();
        let Segment::Call { args, .. } = &t.segments[0] else { panic!() };
        assert_eq!(args[1].as_literal().as_deref(), Some("f(1,2)"));
        assert!(matches!(&t.segments[1], Segment::Call { function: Function::ThreadNum, args, .. } if args.is_empty()));
        assert!(matches!(&t.segments[2], Segment::Call { function: Function::Uuid, .. }));
        assert!(matches!(&t.segments[3], Segment::Call { function: Function::Time, .. }));
        assert!(parse("${__intSum(1,2,3,4,sum)}${__urlencode(a b)}${__Random(1,9)}${__RandomString(5,ab)}").is_ok());
        assert!(parse("${__property(p,v,d)}").is_ok());
    }

    #[test]
    fn unknown_functions_and_wrong_arity_are_errors_at_their_offset() {
        let errors = parse("x=${__Rnadom(1,5)} y=${__BeanShell(1)}").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].at, 2..18);
        assert_eq!(errors[0].message, "unknown or unsupported JMeter function `__Rnadom`");
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `__Random`?"));
        assert!(errors[1].help.as_deref().unwrap().starts_with("supported functions: `__P`"));

        let errors = parse("${__P()}${__urlencode(a,b)}${__threadNum(3)}").unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`__P` takes 1 to 2 argument(s), not 0",
                "`__urlencode` takes 1 argument(s), not 2",
                "`__threadNum` takes 0 argument(s), not 1"
            ]
        );
        // Errors inside arguments are found too, at their place in the whole value.
        let errors = parse("${__P(a,${__nope})}").unwrap_err();
        assert_eq!(errors[0].at, 8..17);
    }
}
