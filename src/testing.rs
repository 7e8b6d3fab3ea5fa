//! Helpers for the library's unit tests.

#[path = "../tests/util/shared.rs"]
mod shared_folder;

pub use shared_folder::shared;

use crate::config::{from_node, yaml, Node, Sources};
use crate::criteria::{self, DictForm, ParseError, Spec};

/// One YAML value read by the project's own loader, as the plan sees config values.
pub fn node(text: &str) -> Node {
    let mut sources = Sources::new();
    let id = sources.add_pseudo("<test>", text);
    match yaml::parse_value(&sources, id, 0, text.len()) {
        Ok((Some(node), _)) => node,
        Ok((None, _)) => panic!("no YAML value in {text:?}"),
        Err(e) => panic!("{}", e.render(&sources)),
    }
}

/// A `criteria` entry read the way the plan reads one: a string in the short form, anything else
/// through `from_node::<DictForm>` and `from_dict`. An error of the typed reading comes back with
/// its message and help.
pub fn criterion_node(node: &Node) -> Result<Spec, ParseError> {
    if let Some(text) = node.as_str() {
        return criteria::parse_short(text);
    }
    let dict: DictForm =
        from_node(node).map_err(|d| ParseError { span: 0..0, message: d.message, help: d.help, field: None })?;
    criteria::from_dict(dict)
}

/// [`criterion_node`] of a `criteria` entry written as YAML.
pub fn criterion(text: &str) -> Result<Spec, ParseError> {
    criterion_node(&node(text))
}
