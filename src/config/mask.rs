//! Masking secrets before the effective configuration is written to disk.
//!
//! Taurus masks string values of keys ending in `password`, `secret` or `token`
//! (`Configuration.masq_sensitive`). We mask more, because headers carry credentials too:
//! the value of any key whose name contains (case-insensitively) `authorization`, `cookie`,
//! `token`, `password`, `passwd`, `secret`, `api-key`, `api_key` or `apikey` becomes `********`;
//! if such a value is a list or mapping, every scalar inside it is masked.

use crate::config::node::{Node, NodeKind};

/// What a masked value is replaced with.
pub const MASK: &str = "********";

const SENSITIVE: &[&str] =
    &["authorization", "cookie", "token", "password", "passwd", "secret", "api-key", "api_key", "apikey"];

/// Whether values under this key name are secrets.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_lowercase();
    SENSITIVE.iter().any(|word| key.contains(word))
}

/// A copy of the tree with secret values replaced by [`MASK`].
pub fn masked(node: &Node) -> Node {
    let mut copy = node.clone();
    mask_in_place(&mut copy);
    copy
}

fn mask_in_place(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(map) => {
            for (key, (_, value)) in map.iter_mut() {
                if is_sensitive(key) {
                    mask_all(value);
                } else {
                    mask_in_place(value);
                }
            }
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(mask_in_place),
        _ => {}
    }
}

/// Masks every non-empty scalar below `node`.
fn mask_all(node: &mut Node) {
    match &mut node.kind {
        NodeKind::Map(map) => map.values_mut().for_each(|(_, value)| mask_all(value)),
        NodeKind::Seq(items) => items.iter_mut().for_each(mask_all),
        NodeKind::Null => {}
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
        assert_eq!(
            root.pointer(["modules", "blazemeter", "token"]).and_then(Node::as_str),
            Some("t"),
            "the original is kept"
        );
    }
}
