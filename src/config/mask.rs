//! Secrets kept out of everything written: `effective.yml`, `suite validate`, reports, console.
//!
//! Taurus masks string values of keys ending in `password`, `secret` or `token`
//! (`Configuration.masq_sensitive`). We mask more, because headers carry credentials too:
//! the value of any key whose name contains (case-insensitively) `authorization`, `cookie`,
//! `token`, `password`, `passwd`, `secret`, `api-key`, `api_key` or `apikey` becomes `********`;
//! if such a value is a list or mapping, every scalar inside it is masked. Booleans under such
//! keys (`store-cookie: false`) are settings, not secrets, and stay.
//!
//! A secret is also masked wherever its *value* went: `${PASSWORD}` substituted into a URL, a
//! header or a body, a label made from that URL, an error message. [`Secrets`] is that set of
//! values, collected once from the loaded config (values of secret-looking keys, `settings.env`
//! and OS variables whose names look secret, the password of any `scheme://user:password@` URL);
//! [`Secrets::mask`] is the one function every writer passes names and messages through.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::config::node::{Node, NodeKind};

/// What a masked key's value is replaced with in `effective.yml`.
pub const MASK: &str = "********";

/// What a secret is replaced with where it was substituted into other text.
pub const REDACTED: &str = "***";

/// Secrets shorter than this are not masked inside other text: masking `ab` would garble
/// every name holding those letters.
pub const MIN_SECRET_CHARS: usize = 4;

const SENSITIVE: &[&str] =
    &["authorization", "cookie", "token", "password", "passwd", "secret", "api-key", "api_key", "apikey"];

/// Extra words that make an environment variable's name secret (`DB_PASS`, `AWS_ACCESS_KEY_ID`).
const SENSITIVE_ENV: &[&str] = &["pass", "key", "credential", "auth", "private"];

/// `scheme://user:password@`: the password group.
static USERINFO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:([^/?#@\s]+)@").expect("valid regex"));

/// suite's own keys whose names hold a sensitive word but whose values are settings, not
/// secrets (`tokens-from` is a JSONPath).
const SETTINGS: &[&str] = &["tokens-from"];

/// Whether values under this key name are secrets.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_lowercase();
    !SETTINGS.contains(&key.as_str()) && SENSITIVE.iter().any(|word| key.contains(word))
}

/// Whether an environment variable (OS or `settings.env`) with this name holds a secret.
pub fn is_sensitive_env(name: &str) -> bool {
    let lower = name.to_lowercase();
    is_sensitive(name) || SENSITIVE_ENV.iter().any(|word| lower.contains(word))
}

/// The secret values of one loaded config, longest first (so a secret containing another is
/// masked whole). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Arc<Vec<String>>);

impl Secrets {
    /// The secrets of a loaded (merged, substituted) config tree, with those of the OS environment.
    pub fn collect(root: &Node) -> Secrets {
        Self::collect_with_env(root, std::env::vars())
    }

    /// [`Secrets::collect`] with the environment given.
    pub fn collect_with_env(root: &Node, env: impl IntoIterator<Item = (String, String)>) -> Secrets {
        let mut values = Vec::new();
        collect_node(root, false, &mut values);
        if let Some(NodeKind::Map(map)) = root.pointer(["settings", "env"]).map(|n| &n.kind) {
            for (name, (_, value)) in map.iter() {
                if is_sensitive_env(name) {
                    collect_node(value, true, &mut values);
                }
            }
        }
        values.extend(env.into_iter().filter(|(name, _)| is_sensitive_env(name)).map(|(_, value)| value));
        Self::from_values(values)
    }

    /// Secrets from values known to be secret (and their URL-encoded forms).
    pub fn from_values(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut all: Vec<String> = Vec::new();
        for value in values {
            if value.chars().count() < MIN_SECRET_CHARS {
                continue;
            }
            let encoded = percent_encoded(&value);
            if encoded != value {
                all.push(encoded);
            }
            all.push(value);
        }
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Secrets(Arc::new(all))
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret in it replaced by [`REDACTED`]; borrowed when it holds none.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in self.0.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Secrets::mask`] into an owned string.
    pub fn masked(&self, text: &str) -> String {
        self.mask(text).into_owned()
    }
}

/// Collects secret scalars below `node`: the values of secret keys (`secret`: the nearest key
/// above is one; a list's items are its key's values, a mapping's values have keys of their own,
/// so `authorization: [{url, name, password}]` gives only the password) and the passwords of
/// URLs with user info.
fn collect_node(node: &Node, secret: bool, out: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Map(map) => {
            for (key, (_, value)) in map.iter() {
                collect_node(value, is_sensitive(key), out);
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|item| collect_node(item, secret, out)),
        NodeKind::Str(text) => {
            if secret {
                out.push(text.clone());
            }
            for found in USERINFO.captures_iter(text) {
                out.extend(found.get(1).map(|m| m.as_str().to_string()));
            }
        }
        NodeKind::Int(_) | NodeKind::Float(_) if secret => out.extend(node.scalar_text().map(Cow::into_owned)),
        _ => {}
    }
}

/// `value` as a URL's path or query would carry it: everything but unreserved characters
/// percent-encoded.
fn percent_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A copy of the tree with secret values replaced: values of secret keys by [`MASK`], secrets
/// substituted elsewhere by [`REDACTED`].
pub fn masked(node: &Node) -> Node {
    let secrets = Secrets::collect(node);
    let mut copy = node.clone();
    mask_in_place(&mut copy, &secrets);
    copy
}

fn mask_in_place(node: &mut Node, secrets: &Secrets) {
    match &mut node.kind {
        NodeKind::Map(map) => {
            for (key, (_, value)) in map.iter_mut() {
                if is_sensitive(key) {
                    mask_all(value);
                } else {
                    mask_in_place(value, secrets);
                }
            }
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(|item| mask_in_place(item, secrets)),
        NodeKind::Str(text) => {
            if let Cow::Owned(masked) = secrets.mask(text) {
                *text = masked;
                node.raw = None;
            }
        }
        _ => {}
    }
}

/// Masks every non-empty scalar below `node` but booleans (`store-cookie: false` is a setting).
fn mask_all(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(map) => map.values_mut().for_each(|(_, value)| mask_all(value)),
        NodeKind::Seq(items) => items.iter_mut().for_each(mask_all),
        NodeKind::Null | NodeKind::Bool(_) => {}
        NodeKind::Str(s) if s.is_empty() => {}
        _ => {
            node.kind = NodeKind::Str(MASK.to_string());
            node.raw = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::Sources;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    #[test]
    fn masks_secret_values_only() {
        let mut sources = Sources::new();
        let text = "scenarios:\n  s:\n    headers:\n      Authorization: Bearer abc\n      X-API-Key: k\n      Cookie: a=b\n      Accept: '*/*'\n    requests: [/a]\nmodules:\n  blazemeter:\n    token: t\n    password: 1234\n    secrets: [a, b]\n    empty-token: ''\n    user: me\n";
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let root = parse_config(&sources, id).unwrap().docs.remove(0);
        let masked = masked(&root);
        let out = serde_yaml::to_string(&masked.to_value()).unwrap();
        assert_eq!(
            out,
            "scenarios:
  s:
    headers:
      Authorization: '********'
      X-API-Key: '********'
      Cookie: '********'
      Accept: '*/*'
    requests:
    - /a
modules:
  blazemeter:
    token: '********'
    password: '********'
    secrets:
    - '********'
    - '********'
    empty-token: ''
    user: me
"
        );
        assert!(out.contains("user: me"));
        assert_eq!(
            root.pointer(["modules", "blazemeter", "token"]).and_then(Node::as_str),
            Some("t"),
            "the original is kept"
        );
    }

    fn load(text: &str) -> Node {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        parse_config(&sources, id).unwrap().docs.remove(0)
    }

    #[test]
    fn secrets_are_masked_wherever_their_value_went() {
        let root = load(
            "settings:\n  env:\n    PASSWORD: hunter2hunter\n    DB_PASS: 'p@ss w0rd'\n    PIN: '12'\n    HOST: example\nscenarios:\n  s:\n    store-cookie: false\n    authorization:\n    - url: http://127.0.0.1/private\n      name: alice\n      password: s3cr3t-pw\n      mechanism: digest\n    headers:\n      X-Db: hunter2hunter\n    requests:\n    - url: http://me:letmein!@127.0.0.1/x?pw=hunter2hunter\n      body: p%40ss%20w0rd\n",
        );
        let secrets = Secrets::collect_with_env(&root, [("MY_TOKEN".to_string(), "from-the-os".to_string())]);
        assert_eq!(secrets.mask("/x?pw=hunter2hunter&q=1"), "/x?pw=***&q=1");
        assert_eq!(secrets.mask("http://me:letmein!@h/"), "http://me:***@h/");
        assert_eq!(secrets.mask("a p@ss w0rd b p%40ss%20w0rd"), "a *** b ***");
        assert_eq!(secrets.mask("token from-the-os"), "token ***");
        assert!(matches!(secrets.mask("no 12 example"), Cow::Borrowed(_)), "short values and plain names stay");
        assert_eq!(secrets.mask("alice:s3cr3t-pw"), "alice:***");
        let settings = "digest alice http://127.0.0.1/private";
        assert!(matches!(secrets.mask(settings), Cow::Borrowed(_)), "only the password of an authorization entry");
        let out = serde_yaml::to_string(&masked(&root).to_value()).unwrap();
        assert!(!out.contains("hunter2") && !out.contains("letmein") && !out.contains("p%40ss"), "{out}");
        assert!(out.contains("X-Db: '***'") && out.contains("me:***@127.0.0.1/x?pw=***"), "{out}");
        assert!(out.contains("store-cookie: false") && out.contains("PASSWORD: '********'"), "{out}");
    }

    #[test]
    fn settings_named_like_secrets_are_not_masked() {
        assert!(!is_sensitive("tokens-from"));
        assert!(is_sensitive("access-token") && is_sensitive("Tokens"));
        let root = crate::testing::node("requests:\n- url: /v1\n  tokens-from: $.choices[0].text\n");
        let out = serde_yaml::to_string(&masked(&root).to_value()).unwrap();
        assert!(out.contains("tokens-from: $.choices[0].text"), "{out}");
        assert!(Secrets::collect_with_env(&root, []).is_empty());
    }
}
