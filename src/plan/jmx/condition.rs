//! Conditions of `IfController` and `WhileController`: the forms that compare variables and
//! literals, without a script engine.
//!
//! Accepted, with JMeter's meaning:
//! - `${__jexl3(EXPR)}` (and `${__jexl2(EXPR)}`, `${__groovy(EXPR)}`) and, when the If
//!   controller does not "interpret the condition as a variable expression", JMeter's
//!   JavaScript form: EXPR itself.
//! - EXPR: operands joined by `==` `!=` `<` `<=` `>` `>=` (JEXL's `eq` `ne` `lt` `le` `gt` `ge`
//!   too), `&&`/`and`, `||`/`or`, `!`/`not`, parentheses. An operand is a quoted string
//!   (`"${status}"`, `'ok'`, with `${…}` filled in), a number, `true`/`false`, a bare `${var}`,
//!   or `vars.get("name")`.
//! - Two operands compare as numbers when both read as numbers, else as text.
//!
//! Anything else (method calls, arithmetic, regex operators) is an error that quotes the
//! expression: a condition we cannot evaluate must not silently read as false.

use std::ops::Range;

use crate::plan::scenario::Template;

/// A parsed condition.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A value: its truth is "reads `true`".
    Operand(Operand),
    /// `!x`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a <op> b`.
    Compare(Operand, Cmp, Operand),
}

/// One value of a condition.
#[derive(Clone, Debug)]
pub enum Operand {
    /// Text filled in per use (a quoted string, a bare `${var}`, `vars.get("x")`).
    Text(Template),
    /// A number literal.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a condition could not be read: the message and where in the condition text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    pub at: Range<usize>,
    pub message: String,
}

/// Turns the text of a string operand (found at the byte range given) into a template.
pub type ToTemplate<'t> = dyn FnMut(&str, Range<usize>) -> Result<Template, ConditionError> + 't;

/// Parses a condition. `text` is the whole property value.
pub fn parse(text: &str, template: &mut ToTemplate<'_>) -> Result<Expr, ConditionError> {
    let (body, base) = unwrap_function(text);
    let tokens = lex(body, base)?;
    if tokens.is_empty() {
        return Err(ConditionError { at: 0..text.len(), message: "the condition is empty".into() });
    }
    let mut p = Parser { tokens, pos: 0, template, text };
    let expr = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(p.unexpected(t.at.clone(), "an operator (`==`, `&&`, …) or the end"));
    }
    Ok(expr)
}

/// The expression inside `${__jexl3(…)}` (or `__jexl2`, `__groovy`), with its offset; else the
/// text itself.
fn unwrap_function(text: &str) -> (&str, usize) {
    let trimmed = text.trim();
    let lead = text.len() - text.trim_start().len();
    for name in ["__jexl3", "__jexl2", "__groovy"] {
        let open = format!("${{{name}(");
        if let Some(rest) = trimmed.strip_prefix(&open) {
            if let Some(inner) = rest.strip_suffix(")}") {
                // A trailing `,var` argument stores the result; it does not change the value.
                let inner = split_top_comma(inner);
                return (inner, lead + open.len());
            }
        }
    }
    (text, 0)
}

/// `inner` up to its first comma outside quotes and brackets.
fn split_top_comma(inner: &str) -> &str {
    let (mut depth, mut quote) = (0i32, None);
    let mut prev = '\0';
    for (i, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q && prev != '\\' => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '{') => depth += 1,
            (None, ')' | '}') => depth -= 1,
            (None, ',') if depth == 0 => return &inner[..i],
            _ => {}
        }
        prev = c;
    }
    inner
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Var(String),
    Num(f64),
    Bool(bool),
    Cmp(Cmp),
    And,
    Or,
    Not,
    Open,
    Close,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    at: Range<usize>,
}

fn lex(body: &str, base: usize) -> Result<Vec<Token>, ConditionError> {
    let bytes = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: Range<usize>, message: String| ConditionError { at, message };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let rest = &body[i..];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let (tok, len) = if c == b'"' || c == b'\'' {
            let mut j = i + 1;
            let mut s = String::new();
            loop {
                let Some(&b) = bytes.get(j) else {
                    return Err(err(base + start..base + body.len(), "a string that is never closed".into()));
                };
                if b == c {
                    break;
                }
                if b == b'\\' && j + 1 < bytes.len() {
                    let next = body[j + 1..].chars().next().unwrap_or('\\');
                    s.push(next);
                    j += 1 + next.len_utf8();
                    continue;
                }
                let ch = body[j..].chars().next().unwrap_or('\0');
                s.push(ch);
                j += ch.len_utf8();
            }
            (Tok::Str(s), j + 1 - i)
        } else if rest.starts_with("${") {
            let Some(end) = rest.find('}') else {
                return Err(err(base + start..base + body.len(), "a `${` that is never closed".into()));
            };
            (Tok::Var(rest[..end + 1].to_string()), end + 1)
        } else if let Some(name) = rest.strip_prefix("vars.get(") {
            let q = name.chars().next().filter(|q| *q == '"' || *q == '\'');
            let Some(q) = q else {
                return Err(err(base + start..base + start + 9, "`vars.get(` needs a quoted variable name".into()));
            };
            let inner = &name[1..];
            let Some(end) = inner.find(q) else {
                return Err(err(base + start..base + body.len(), "a string that is never closed".into()));
            };
            if !inner[end + 1..].starts_with(')') {
                return Err(err(base + start..base + start + 9 + end + 2, "`vars.get(\"name\")` expected".into()));
            }
            (Tok::Var(format!("${{{}}}", &inner[..end])), 9 + 1 + end + 2)
        } else if c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            let n: f64 = body[i..j]
                .parse()
                .map_err(|_| err(base + i..base + j, format!("`{}` is not a number", &body[i..j])))?;
            (Tok::Num(n), j - i)
        } else if let Some((tok, len)) = symbol(rest) {
            (tok, len)
        } else if c.is_ascii_alphabetic() {
            let mut j = i;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] == b'.') {
                j += 1;
            }
            let word = &body[i..j];
            let tok = match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "eq" => Tok::Cmp(Cmp::Eq),
                "ne" => Tok::Cmp(Cmp::Ne),
                "lt" => Tok::Cmp(Cmp::Lt),
                "le" => Tok::Cmp(Cmp::Le),
                "gt" => Tok::Cmp(Cmp::Gt),
                "ge" => Tok::Cmp(Cmp::Ge),
                _ => {
                    return Err(err(
                        base + i..base + j,
                        format!("`{word}` is not something a condition can compare (only variables, strings, numbers and true/false)"),
                    ))
                }
            };
            (tok, j - i)
        } else {
            let ch = rest.chars().next().unwrap_or('?');
            return Err(err(
                base + i..base + i + ch.len_utf8(),
                format!("`{ch}` is not an operator a condition can use"),
            ));
        };
        out.push(Token { tok, at: base + start..base + start + len });
        i += len;
    }
    Ok(out)
}

fn symbol(rest: &str) -> Option<(Tok, usize)> {
    const SYMBOLS: &[(&str, Tok)] = &[
        ("==", Tok::Cmp(Cmp::Eq)),
        ("!=", Tok::Cmp(Cmp::Ne)),
        ("<=", Tok::Cmp(Cmp::Le)),
        (">=", Tok::Cmp(Cmp::Ge)),
        ("&&", Tok::And),
        ("||", Tok::Or),
        ("<", Tok::Cmp(Cmp::Lt)),
        (">", Tok::Cmp(Cmp::Gt)),
        ("!", Tok::Not),
        ("(", Tok::Open),
        (")", Tok::Close),
    ];
    SYMBOLS.iter().find(|(s, _)| rest.starts_with(s)).map(|(s, t)| (t.clone(), s.len()))
}

struct Parser<'t, 'x> {
    tokens: Vec<Token>,
    pos: usize,
    template: &'t mut ToTemplate<'t>,
    text: &'x str,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn unexpected(&self, at: Range<usize>, wanted: &str) -> ConditionError {
        let found = self.text.get(at.clone()).unwrap_or("");
        ConditionError { at, message: format!("expected {wanted}, found `{found}`") }
    }

    fn end_at(&self) -> Range<usize> {
        self.text.len()..self.text.len()
    }

    fn or(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut left = self.not()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ConditionError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            match self.tokens.get(self.pos) {
                Some(Token { tok: Tok::Close, .. }) => self.pos += 1,
                Some(t) => return Err(self.unexpected(t.at.clone(), "`)`")),
                None => return Err(self.unexpected(self.end_at(), "`)`")),
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        if let Some(Tok::Cmp(op)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.operand()?;
            return Ok(Expr::Compare(left, op, right));
        }
        Ok(Expr::Operand(left))
    }

    fn operand(&mut self) -> Result<Operand, ConditionError> {
        let Some(t) = self.tokens.get(self.pos).cloned() else {
            return Err(self.unexpected(self.end_at(), "a value"));
        };
        self.pos += 1;
        Ok(match t.tok {
            Tok::Num(n) => Operand::Number(n),
            Tok::Bool(b) => Operand::Bool(b),
            Tok::Str(s) => {
                // The string's text starts after its quote.
                let inner = t.at.start + 1..t.at.end.saturating_sub(1);
                Operand::Text((self.template)(&s, inner)?)
            }
            Tok::Var(v) => Operand::Text((self.template)(&v, t.at.clone())?),
            _ => return Err(self.unexpected(t.at, "a value")),
        })
    }
}

/// A value while evaluating.
enum Val<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(f64),
    Bool(bool),
}

impl Val<'_> {
    fn truth(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Text(t) => t.trim().eq_ignore_ascii_case("true"),
            Val::Number(n) => *n != 0.0,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Number(n) => Some(*n),
            Val::Text(t) => t.trim().parse().ok().filter(|n: &f64| n.is_finite()),
            Val::Bool(_) => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Val::Text(t) => t.to_string(),
            Val::Number(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
        }
    }
}

impl Expr {
    /// Whether the condition holds; `render` fills in a template for the current user.
    pub fn holds(&self, render: &mut dyn FnMut(&Template) -> String) -> bool {
        match self {
            Expr::Operand(o) => value(o, render).truth(),
            Expr::Not(e) => !e.holds(render),
            Expr::And(a, b) => a.holds(render) && b.holds(render),
            Expr::Or(a, b) => a.holds(render) || b.holds(render),
            Expr::Compare(a, op, b) => {
                let (a, b) = (value(a, render), value(b, render));
                let ord = match (a.number(), b.number()) {
                    (Some(x), Some(y)) => x.partial_cmp(&y),
                    _ => Some(a.text().cmp(&b.text())),
                };
                let Some(ord) = ord else { return false };
                match op {
                    Cmp::Eq => ord.is_eq(),
                    Cmp::Ne => ord.is_ne(),
                    Cmp::Lt => ord.is_lt(),
                    Cmp::Le => ord.is_le(),
                    Cmp::Gt => ord.is_gt(),
                    Cmp::Ge => ord.is_ge(),
                }
            }
        }
    }
}

fn value<'a>(o: &'a Operand, render: &mut dyn FnMut(&Template) -> String) -> Val<'a> {
    match o {
        Operand::Text(t) => Val::Text(render(t).into()),
        Operand::Number(n) => Val::Number(*n),
        Operand::Bool(b) => Val::Bool(*b),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn eval(text: &str, vars: &[(&str, &str)]) -> Result<bool, ConditionError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let expr = parse(text, &mut |s, _| Ok(Template::parse(s)))?;
        Ok(expr.holds(&mut |t| {
            let mut vu = crate::plan::scenario::UserVars::new(1);
            vu.vars = vars.clone();
            t.render(&mut vu, &Default::default()).map(|c| c.into_owned()).unwrap_or_default()
        }))
    }

    #[test]
    fn comparisons_of_variables_and_literals() {
        let v = [("status", "ok"), ("n", "7"), ("flag", "TRUE")];
        assert!(eval(r#"${__jexl3("${status}" == "ok")}"#, &v).unwrap());
        assert!(!eval(r#"${__jexl3("${status}" != "ok")}"#, &v).unwrap());
        assert!(eval("${__jexl3(${n} > 5 && ${n} <= 7)}", &v).unwrap());
        assert!(eval("${__jexl3(${n} lt 10 and not (${n} eq 3))}", &v).unwrap());
        // Numbers compare as numbers: "10" > "9".
        assert!(eval("${__jexl3(10 > ${n})}", &v).unwrap());
        assert!(eval(r#"vars.get("status") == 'ok' || false"#, &v).unwrap());
        assert!(eval("${flag}", &v).unwrap());
        assert!(!eval("${missing}", &v).unwrap());
        assert!(eval(r#"${__jexl3("${missing}" == "${missing}", result)}"#, &v).unwrap());
    }

    #[test]
    fn what_cannot_be_evaluated_is_an_error_at_its_place() {
        let e = eval(r#"${__jexl3("${a}".length() > 3)}"#, &[]).unwrap_err();
        assert!(e.message.contains("`.`") || e.message.contains("expected"), "{e:?}");
        let e = eval("${n} + 1 > 2", &[]).unwrap_err();
        assert_eq!(e.message, "`+` is not an operator a condition can use");
        assert_eq!(e.at, 5..6);
        let e = eval("${__jexl3(\"open)}", &[]).unwrap_err();
        assert_eq!(e.message, "a string that is never closed");
        let e = eval("(${a} == 1", &[]).unwrap_err();
        assert!(e.message.starts_with("expected `)`"), "{e:?}");
        assert!(eval("   ", &[]).is_err());
    }
}
