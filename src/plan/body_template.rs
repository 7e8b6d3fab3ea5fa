//! Request bodies written as minijinja templates (`body-template`, `body-file-template`).
//!
//! A template sees every `settings.env` variable as text (`{{ size|int }}` makes a number of
//! it) and, per request, `vu` (the virtual user's number in its execution, from 1), `iteration`
//! (the user's iteration, from 0), `random_int(a, b)` and `uuid()`. A template that uses none of
//! those four is rendered once, when the test is planned, into an ordinary body; the others are
//! compiled once and rendered for every request. A name that is not defined is an error, never
//! empty text, and what one render may do is bounded: [`MAX_RENDERED`] bytes of output and
//! [`FUEL`] template instructions.

use std::collections::HashSet;
use std::fmt;
use std::io;

use minijinja::syntax::SyntaxConfig;
use minijinja::{context, AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// The names a template reads per request: using one makes it rendered per request.
pub const PER_REQUEST: [&str; 4] = ["vu", "iteration", "random_int", "uuid"];

/// Largest body a template may render (64 MiB): each request holds its body in memory.
pub const MAX_RENDERED: usize = 64 << 20;

/// Most template instructions one render runs, so a runaway loop fails instead of holding its
/// user (a loop over a million items takes about ten million).
pub const FUEL: u64 = 100_000_000;

/// The environment every body template of a test is compiled in: strict undefined, no escaping
/// (a body is not HTML), the trailing newline kept (the body is the text as written), the
/// `settings.env` variables as globals and the functions.
pub fn environment(vars: &[(String, String)]) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // Only custom delimiters can make a syntax fail to build.
    if let Ok(syntax) = SyntaxConfig::builder().keep_trailing_newline(true).build() {
        env.set_syntax(syntax);
    }
    env.set_fuel(Some(FUEL));
    // Errors say which expression was undefined; the cost is paid only when one fails.
    env.set_debug(true);
    env.add_function("random_int", random_int);
    env.add_function("uuid", uuid);
    for (name, value) in vars {
        env.add_global(name.clone(), value.clone());
    }
    env
}

/// `random_int(a, b)`: an integer from `a` to `b`, both included.
fn random_int(a: i64, b: i64) -> Result<i64, Error> {
    if a > b {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("random_int({a}, {b}) needs a <= b")));
    }
    Ok(fastrand::i64(a..=b))
}

/// `uuid()`: a random (version 4) UUID, lower-case.
fn uuid() -> String {
    let bits = fastrand::u128(..);
    // The version nibble (4) and the variant bits (10) of RFC 9562.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// One compiled body template, shared by every user that sends its request.
pub struct BodyTemplate {
    env: Environment<'static>,
    name: String,
}

impl fmt::Debug for BodyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyTemplate").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Why a template did not render.
#[derive(Debug)]
pub enum RenderError {
    /// The template failed (an undefined value, a bad operation, out of fuel).
    Template(Error),
    /// The output passed [`MAX_RENDERED`].
    TooLarge,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Template(e) => write!(f, "{e}"),
            RenderError::TooLarge => write!(f, "the body is larger than {} MiB", MAX_RENDERED >> 20),
        }
    }
}

impl BodyTemplate {
    /// Compiles `source` in a copy of `base` under `name` (what messages call it).
    pub fn compile(base: &Environment<'static>, name: &str, source: String) -> Result<Self, Error> {
        let mut env = base.clone();
        env.add_template_owned(name.to_string(), source)?;
        Ok(BodyTemplate { env, name: name.to_string() })
    }

    /// The names the template reads that it does not set itself.
    fn undeclared(&self) -> HashSet<String> {
        self.env.get_template(&self.name).map(|t| t.undeclared_variables(false)).unwrap_or_default()
    }

    /// Whether it reads `vu`, `iteration` or a random function, so must be rendered per request.
    pub fn per_request(&self) -> bool {
        self.undeclared().iter().any(|n| PER_REQUEST.contains(&n.as_str()))
    }

    /// The names it reads that nothing defines (neither a variable, a function nor a builtin),
    /// sorted; a branch not taken at plan time is checked too.
    pub fn unknown_names(&self) -> Vec<String> {
        let mut unknown: Vec<String> = self
            .undeclared()
            .into_iter()
            .filter(|n| !PER_REQUEST.contains(&n.as_str()) && !self.env.globals().any(|(g, _)| g == n))
            .collect();
        unknown.sort();
        unknown
    }

    /// The body for user `vu` in its iteration `iteration`.
    pub fn render(&self, vu: u64, iteration: u64) -> Result<String, RenderError> {
        let template = self.env.get_template(&self.name).map_err(RenderError::Template)?;
        let mut out = Capped { bytes: Vec::new(), over: false };
        match template.render_captured_to(context! { vu, iteration }, &mut out) {
            Ok(_) => {
                Ok(String::from_utf8(out.bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
            }
            Err(_) if out.over => Err(RenderError::TooLarge),
            Err(e) => Err(RenderError::Template(e)),
        }
    }
}

/// Output that refuses to grow past [`MAX_RENDERED`].
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED {
            self.over = true;
            return Err(io::Error::other("the rendered body is too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(source: &str, vars: &[(&str, &str)]) -> BodyTemplate {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        BodyTemplate::compile(&environment(&vars), "t", source.to_string()).unwrap()
    }

    #[test]
    fn env_variables_are_text_and_per_request_names_are_found() {
        let t = compile("{{ 'x' * (size|int) }}{{ model }}\n", &[("size", "3"), ("model", "m")]);
        assert!(!t.per_request());
        assert_eq!(t.render(1, 0).unwrap(), "xxxm\n");
        for source in ["{{ vu }}", "{% if true %}{{ iteration }}{% endif %}", "{{ random_int(1, 2) }}", "{{ uuid() }}"]
        {
            assert!(compile(source, &[]).per_request(), "{source}");
        }
        let t = compile("{{ vu }}-{{ iteration }}-{{ random_int(5, 5) }}", &[]);
        assert_eq!(t.render(3, 7).unwrap(), "3-7-5");
    }

    #[test]
    fn unknown_names_are_found_in_branches_not_taken() {
        let t = compile("{% if false %}{{ nope }}{% endif %}{% for i in range(2) %}{{ loop.index }}{% endfor %}", &[]);
        assert_eq!(t.unknown_names(), ["nope"]);
        assert_eq!(t.render(1, 0).unwrap(), "12");
        let e = compile("a {{ missing }}", &[]).render(1, 0).unwrap_err().to_string();
        assert!(e.starts_with("undefined value"), "{e}");
    }

    #[test]
    fn a_render_is_bounded() {
        let t = compile("{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}", &[]);
        assert!(matches!(t.render(1, 0), Err(RenderError::TooLarge)));
        let mut env = environment(&[]);
        env.set_fuel(Some(10_000));
        let source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let e = BodyTemplate::compile(&env, "t", source.to_string()).unwrap().render(1, 0).unwrap_err().to_string();
        assert!(e.contains("fuel"), "{e}");
        let e = compile("{{ random_int(2, 1) }}", &[]).render(1, 0).unwrap_err().to_string();
        assert!(e.contains("random_int(2, 1) needs a <= b"), "{e}");
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(uuid(), u);
    }
}
