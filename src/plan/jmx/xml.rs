//! A `.jmx` file as a located tree: JMeter's `<hashTree>` pairing resolved (each test element
//! with its children), each element and property remembering where it was written.
//!
//! A JMX file nests like this; an element's children are in the `<hashTree>` right after it:
//!
//! ```text
//! <jmeterTestPlan><hashTree>
//!   <TestPlan testclass="TestPlan" testname="…">…properties…</TestPlan>
//!   <hashTree>
//!     <ThreadGroup …>…</ThreadGroup>
//!     <hashTree>…</hashTree>
//!   </hashTree>
//! </hashTree></jmeterTestPlan>
//! ```
//!
//! This file knows XML and the hashTree layout, not what any element means (that is
//! [`super::model`]).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::config::{Diagnostic, SourceId, Sources, Span};

/// One test element (`<HTTPSamplerProxy testclass=… testname=…>`) and the elements of the
/// `<hashTree>` that follows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// The XML tag (usually equal to `testclass`).
    pub tag: String,
    /// `testclass`, or the tag when the attribute is missing.
    pub testclass: String,
    /// `testname` (the sampler's label), empty when missing.
    pub testname: String,
    /// The `testname` value in the start tag (the tag name when missing).
    pub testname_span: Span,
    /// `guiclass`, if given.
    pub guiclass: Option<String>,
    /// `enabled` (JMeter: anything but `false` is enabled).
    pub enabled: bool,
    /// The tag name in the start tag.
    pub span: Span,
    /// The properties, in file order.
    pub props: Props,
    /// The elements of the following `<hashTree>`.
    pub children: Vec<Element>,
}

/// An element's (or an `elementProp`'s) properties, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Props(pub Vec<Prop>);

impl Props {
    /// The first property called `name`.
    pub fn get(&self, name: &str) -> Option<&Prop> {
        self.0.iter().find(|p| p.name == name)
    }

    /// All properties in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Prop> {
        self.0.iter()
    }
}

/// One `*Prop` child.
#[derive(Clone, Debug, PartialEq)]
pub struct Prop {
    /// `name` (for a `doubleProp` written JMeter's long way, its `<name>` child).
    pub name: String,
    /// The tag name of the property.
    pub span: Span,
    /// The value.
    pub value: PropValue,
}

/// The kind of a scalar property, from its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    /// `stringProp`.
    String,
    /// `boolProp`.
    Bool,
    /// `intProp`.
    Int,
    /// `longProp`.
    Long,
    /// `doubleProp` or `floatProp`.
    Double,
}

/// A property's value.
#[derive(Clone, Debug, PartialEq)]
pub enum PropValue {
    /// `stringProp`, `boolProp`, `intProp`, `longProp`, `doubleProp`: checked to fit its kind,
    /// kept as written (XML escapes resolved).
    Scalar {
        /// Which tag.
        kind: ScalarKind,
        /// The text.
        text: String,
        /// Where the text is (a point between the tags when empty).
        text_span: Span,
    },
    /// `elementProp`: a nested element with its own properties.
    Element(ElementProp),
    /// `collectionProp`: a list of properties (usually `elementProp`s or `stringProp`s).
    Collection(Vec<Prop>),
}

/// The inside of an `elementProp`.
#[derive(Clone, Debug, PartialEq)]
pub struct ElementProp {
    /// `elementType` (e.g. `Arguments`, `HTTPArgument`, `LoopController`).
    pub element_type: String,
    /// `testclass`, if given.
    pub testclass: Option<String>,
    /// `testname`, if given.
    pub testname: Option<String>,
    /// `enabled` (JMeter: anything but `false`).
    pub enabled: bool,
    /// Its properties.
    pub props: Props,
}

/// The parsed file: the root `<jmeterTestPlan>`'s elements (normally one `TestPlan`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// The root's `<hashTree>` elements.
    pub roots: Vec<Element>,
    /// The `<jmeterTestPlan>` tag.
    pub span: Span,
    /// `jmeter="…"` of the root (the JMeter version that saved the plan).
    pub jmeter_version: Option<String>,
}

/// Parses `id`'s text. Malformed XML stops at the first error; layout errors (a `<hashTree>`
/// without an element, a property outside an element) are collected.
pub fn parse(sources: &Sources, id: SourceId) -> Result<Tree, Vec<Diagnostic>> {
    let dom = Dom::read(sources, id).map_err(|d| vec![*d])?;
    let mut b = Builder { errors: Vec::new() };
    let tree = b.tree(&dom);
    if b.errors.is_empty() {
        Ok(tree)
    } else {
        Err(b.errors)
    }
}

/// The span of `value[range]` inside `span`, the raw text `value` was decoded from (XML escapes
/// such as `&amp;` or `&#13;` resolved); the whole `span` when the raw text does not decode to
/// `value` (CDATA, an attribute's normalized whitespace).
pub fn value_span(sources: &Sources, span: Span, value: &str, range: std::ops::Range<usize>) -> Span {
    let raw = sources.slice(span);
    // (raw offset, value offset) at each step of decoding.
    let mut map = Vec::with_capacity(raw.len() + 1);
    let (mut r, mut v) = (0, 0);
    while r < raw.len() {
        map.push((r, v));
        let rest = &raw[r..];
        if rest.starts_with('&') {
            let Some(end) = rest.find(';') else { return span };
            let entity = &rest[1..end];
            let decoded = match entity.strip_prefix('#') {
                Some(num) => {
                    let code = match num.strip_prefix('x') {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => num.parse().ok(),
                    };
                    code.and_then(char::from_u32).map_or(0, char::len_utf8)
                }
                None => quick_xml::escape::resolve_predefined_entity(entity).map_or(0, str::len),
            };
            r += end + 1;
            v += decoded;
        } else {
            let n = rest.chars().next().map_or(1, char::len_utf8);
            r += n;
            v += n;
        }
    }
    map.push((r, v));
    if v != value.len() || raw.contains("<![CDATA[") {
        return span;
    }
    let at = |target: usize| map.iter().find(|&&(_, vv)| vv >= target).map_or(raw.len(), |&(rr, _)| rr);
    let (start, end) = (at(range.start), at(range.end));
    sources.span(span.source, span.offset + start, end.saturating_sub(start))
}

/// A generic XML element with located attributes and text.
#[derive(Debug)]
struct Node {
    name: String,
    /// The tag name in the start tag.
    span: Span,
    /// Name, value and the value's span.
    attrs: Vec<(String, String, Span)>,
    children: Vec<Node>,
    /// Character data, escapes resolved, CDATA included.
    text: String,
    /// From the first to the end of the last character-data event (a point after the start
    /// tag when there is none).
    text_span: Span,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, ..)| n == name).map(|(_, v, _)| v.as_str())
    }

    fn attr_span(&self, name: &str) -> Option<Span> {
        self.attrs.iter().find(|(n, ..)| n == name).map(|(.., s)| *s)
    }
}

struct Dom;

impl Dom {
    fn read(sources: &Sources, id: SourceId) -> Result<Node, Box<Diagnostic>> {
        let text = sources.get(id).text();
        let mut reader = Reader::from_str(text);
        let here = |offset: usize, len: usize| sources.span(id, offset, len);
        let malformed = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
            let at = usize::try_from(reader.error_position()).unwrap_or(0);
            Box::new(Diagnostic::error(here(at, 1), format!("malformed XML: {e}")))
        };
        let mut stack: Vec<Node> = Vec::new();
        // (start, end) of the character data of the innermost open element.
        let mut text_range: Option<(usize, usize)> = None;
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(0);
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => return Err(Self::in_element(malformed(&reader, &e), &stack)),
            };
            let after = usize::try_from(reader.buffer_position()).unwrap_or(0);
            let push_text = |stack: &mut Vec<Node>, text_range: &mut Option<(usize, usize)>, s: &str| {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(s);
                    *text_range = Some((text_range.map_or(before, |(a, _)| a), after));
                }
            };
            match event {
                Event::Start(start) => {
                    stack.push(Self::node(text, &start, before, &here).map_err(|e| malformed(&reader, &e))?);
                    text_range = None;
                }
                Event::Empty(start) => {
                    let mut node = Self::node(text, &start, before, &here).map_err(|e| malformed(&reader, &e))?;
                    node.text_span = here(after, 0);
                    if stack.is_empty() {
                        return Self::finish(&mut reader, node, &here);
                    }
                    Self::close(&mut stack, node);
                    text_range = None;
                }
                Event::End(_) => {
                    let Some(mut node) = stack.pop() else {
                        return Err(Box::new(Diagnostic::error(
                            here(before, after - before),
                            "malformed XML: unexpected end tag",
                        )));
                    };
                    node.text_span = match text_range {
                        Some((a, b)) => here(a, b - a),
                        None => here(before, 0),
                    };
                    text_range = None;
                    if stack.is_empty() {
                        return Self::finish(&mut reader, node, &here);
                    }
                    Self::close(&mut stack, node);
                }
                Event::Text(t) => {
                    let s = t.decode().map_err(|e| malformed(&reader, &e))?;
                    if stack.is_empty() {
                        if !s.trim().is_empty() {
                            return Err(Box::new(Diagnostic::error(
                                here(before, s.len()),
                                "malformed XML: text outside the root element",
                            )));
                        }
                    } else {
                        push_text(&mut stack, &mut text_range, &s);
                    }
                }
                Event::CData(c) => {
                    let s = c.decode().map_err(|e| malformed(&reader, &e))?.into_owned();
                    push_text(&mut stack, &mut text_range, &s);
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref().map_err(|e| malformed(&reader, &e))?.map(String::from)
                    } else {
                        let name = r.decode().map_err(|e| malformed(&reader, &e))?;
                        quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
                    };
                    let Some(s) = resolved else {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        return Err(Box::new(Diagnostic::error(
                            here(before, after - before),
                            format!("malformed XML: unknown entity `&{name};`"),
                        )));
                    };
                    push_text(&mut stack, &mut text_range, &s);
                }
                Event::Eof => {
                    let message = match stack.last() {
                        Some(open) => {
                            return Err(Box::new(Diagnostic::error(
                                open.span,
                                format!("malformed XML: `<{}>` is never closed", open.name),
                            )))
                        }
                        None => "the file has no XML root element (is it a JMeter plan?)",
                    };
                    return Err(Box::new(Diagnostic::error(here(0, 0), message)));
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// Names the innermost open test element (one with a `testname`) in a malformed-XML error.
    fn in_element(mut d: Box<Diagnostic>, stack: &[Node]) -> Box<Diagnostic> {
        if let Some(open) = stack.iter().rev().find(|n| n.attr("testname").is_some()) {
            let name = open.attr("testname").unwrap_or_default();
            let class = open.attr("testclass").unwrap_or(&open.name);
            d.labels.push(crate::config::Label { span: open.span, message: format!("in `{class}` \"{name}\"") });
        }
        d
    }

    /// After the root closes only whitespace, comments and processing instructions may follow.
    fn finish(
        reader: &mut Reader<&[u8]>,
        root: Node,
        here: &dyn Fn(usize, usize) -> Span,
    ) -> Result<Node, Box<Diagnostic>> {
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(0);
            match reader.read_event() {
                Ok(Event::Eof) => return Ok(root),
                Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Event::Comment(_) | Event::PI(_)) => {}
                _ => {
                    return Err(Box::new(Diagnostic::error(
                        here(before, 1),
                        "malformed XML: content after the root element",
                    )))
                }
            }
        }
    }

    fn node(
        text: &str,
        start: &BytesStart,
        at: usize,
        here: &dyn Fn(usize, usize) -> Span,
    ) -> Result<Node, quick_xml::Error> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let span = here(at + 1, name.len());
        let mut attrs = Vec::new();
        for attr in start.attributes() {
            let attr = attr?;
            let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
            // The raw value borrows the file's text, so its place is where it points.
            let value_span = match &attr.value {
                std::borrow::Cow::Borrowed(raw) => {
                    let offset = (raw.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
                    if offset + raw.len() <= text.len() {
                        here(offset, raw.len())
                    } else {
                        span
                    }
                }
                std::borrow::Cow::Owned(_) => span,
            };
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?.into_owned();
            attrs.push((key, value, value_span));
        }
        Ok(Node { name, span, attrs, children: Vec::new(), text: String::new(), text_span: span })
    }

    fn close(stack: &mut [Node], node: Node) {
        if let Some(parent) = stack.last_mut() {
            parent.children.push(node);
        }
    }
}

/// Turns the generic XML tree into JMeter's element tree.
struct Builder {
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn tree(&mut self, root: &Node) -> Tree {
        let jmeter_version = root.attr("jmeter").map(str::to_string);
        if root.name != "jmeterTestPlan" {
            self.errors.push(Diagnostic::error(
                root.span,
                format!("the root element is `<{}>`, not `<jmeterTestPlan>`: this is not a JMeter plan", root.name),
            ));
            return Tree { roots: Vec::new(), span: root.span, jmeter_version };
        }
        let mut roots = Vec::new();
        for child in &root.children {
            if child.name == "hashTree" {
                roots.extend(self.hash_tree(child));
            } else {
                self.errors.push(Diagnostic::error(
                    child.span,
                    format!("unexpected `<{}>` in `<jmeterTestPlan>`: expected `<hashTree>`", child.name),
                ));
            }
        }
        Tree { roots, span: root.span, jmeter_version }
    }

    /// The elements of a `<hashTree>`: each element, then optionally its own `<hashTree>`.
    fn hash_tree(&mut self, node: &Node) -> Vec<Element> {
        let mut out: Vec<Element> = Vec::new();
        let mut open = false; // whether the last element still waits for its hashTree
        for child in &node.children {
            if child.name == "hashTree" {
                match out.last_mut() {
                    Some(last) if open => last.children = self.hash_tree(child),
                    _ => self.errors.push(Diagnostic::error(
                        child.span,
                        "`<hashTree>` without a test element before it: a hashTree holds the children of the element it follows",
                    )),
                }
                open = false;
            } else {
                out.push(self.element(child));
                open = true;
            }
        }
        out
    }

    fn element(&mut self, node: &Node) -> Element {
        let testclass = node.attr("testclass").unwrap_or(&node.name).to_string();
        Element {
            tag: node.name.clone(),
            testclass,
            testname: node.attr("testname").unwrap_or_default().to_string(),
            testname_span: node.attr_span("testname").unwrap_or(node.span),
            guiclass: node.attr("guiclass").map(str::to_string),
            enabled: node.attr("enabled") != Some("false"),
            span: node.span,
            props: self.props(node),
            children: Vec::new(),
        }
    }

    fn props(&mut self, node: &Node) -> Props {
        Props(node.children.iter().filter_map(|c| self.prop(c, true)).collect())
    }

    fn prop(&mut self, node: &Node, named: bool) -> Option<Prop> {
        let kind = match node.name.as_str() {
            "stringProp" => Some(ScalarKind::String),
            "boolProp" => Some(ScalarKind::Bool),
            "intProp" => Some(ScalarKind::Int),
            "longProp" => Some(ScalarKind::Long),
            "doubleProp" | "floatProp" => Some(ScalarKind::Double),
            "elementProp" | "collectionProp" => None,
            // JMeter writes some objects as `<objProp>`/`<mapProp>`; nothing supported reads them.
            "objProp" | "mapProp" => return None,
            other => {
                self.errors.push(Diagnostic::error(
                    node.span,
                    format!("unexpected `<{other}>` among properties: expected `stringProp`, `boolProp`, `intProp`, `longProp`, `doubleProp`, `elementProp` or `collectionProp`"),
                ));
                return None;
            }
        };
        let long_form = kind == Some(ScalarKind::Double) && node.attr("name").is_none();
        let name = match (node.attr("name"), long_form) {
            (Some(n), _) => n.to_string(),
            // `<doubleProp><name>throughput</name><value>60.0</value><savedValue>0.0</savedValue></doubleProp>`
            (None, true) => node.children.iter().find(|c| c.name == "name").map(|c| c.text.clone()).unwrap_or_default(),
            (None, false) if !named => String::new(),
            (None, false) => {
                self.errors.push(Diagnostic::error(node.span, format!("`<{}>` without a `name` attribute", node.name)));
                return None;
            }
        };
        let value = match kind {
            Some(kind) => {
                let (text, text_span) = match node.children.iter().find(|c| c.name == "value") {
                    Some(v) if long_form => (v.text.clone(), v.text_span),
                    _ => (node.text.clone(), node.text_span),
                };
                self.check_scalar(kind, &text, text_span, &name);
                PropValue::Scalar { kind, text, text_span }
            }
            None if node.name == "elementProp" => PropValue::Element(ElementProp {
                element_type: node.attr("elementType").unwrap_or_default().to_string(),
                testclass: node.attr("testclass").map(str::to_string),
                testname: node.attr("testname").map(str::to_string),
                enabled: node.attr("enabled") != Some("false"),
                props: self.props(node),
            }),
            None => PropValue::Collection(node.children.iter().filter_map(|c| self.prop(c, false)).collect()),
        };
        Some(Prop { name, span: node.span, value })
    }

    /// JMeter reads `intProp`/`longProp`/`doubleProp` as numbers when it loads the plan.
    fn check_scalar(&mut self, kind: ScalarKind, text: &str, span: Span, name: &str) {
        let t = text.trim();
        let ok = match kind {
            ScalarKind::String | ScalarKind::Bool => true,
            ScalarKind::Int | ScalarKind::Long => t.parse::<i64>().is_ok(),
            ScalarKind::Double => t.parse::<f64>().is_ok(),
        };
        if !ok {
            self.errors.push(Diagnostic::error(span, format!("property `{name}` must be a number, not `{text}`")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> (Sources, Result<Tree, Vec<Diagnostic>>) {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("t.jmx", text);
        let tree = parse(&sources, id);
        (sources, tree)
    }

    #[test]
    fn pairs_elements_with_their_hash_trees() {
        let text = r#"<?xml version="1.0"?>
<jmeterTestPlan jmeter="5.3">
  <hashTree>
    <TestPlan testclass="TestPlan" testname="P &amp; Q">
      <boolProp name="TestPlan.serialize_threadgroups">true</boolProp>
      <doubleProp><name>throughput</name><value>60.0</value><savedValue>0.0</savedValue></doubleProp>
      <elementProp name="vars" elementType="Arguments">
        <collectionProp name="Arguments.arguments">
          <stringProp name="1">a&lt;b</stringProp>
        </collectionProp>
      </elementProp>
    </TestPlan>
    <hashTree>
      <ConstantTimer testclass="ConstantTimer" testname="t" enabled="false"/>
      <hashTree/>
      <GenericController testclass="GenericController" testname="g"/>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"#;
        let (sources, tree) = parse_str(text);
        let tree = tree.unwrap_or_else(|e| panic!("{}", e[0].render(&sources)));
        assert_eq!(tree.jmeter_version.as_deref(), Some("5.3"));
        let plan = &tree.roots[0];
        assert_eq!((plan.testname.as_str(), plan.span.line, plan.span.col), ("P & Q", 4, 6));
        assert_eq!(plan.children.len(), 2);
        assert!(!plan.children[0].enabled);
        assert_eq!(plan.children[1].testclass, "GenericController");
        let tp = plan.props.get("throughput").unwrap();
        assert!(matches!(&tp.value, PropValue::Scalar { kind: ScalarKind::Double, text, .. } if text == "60.0"));
        let PropValue::Element(vars) = &plan.props.get("vars").unwrap().value else { panic!() };
        let PropValue::Collection(items) = &vars.props.get("Arguments.arguments").unwrap().value else { panic!() };
        let PropValue::Scalar { text, text_span, .. } = &items[0].value else { panic!() };
        assert_eq!(text, "a<b");
        assert_eq!(sources.slice(*text_span), "a&lt;b");
    }

    #[test]
    fn a_byte_order_mark_and_comments_are_fine() {
        let (sources, tree) = parse_str(
            "\u{feff}<?xml version=\"1.0\"?>\n<!-- c --><jmeterTestPlan><hashTree><TestPlan/><hashTree/></hashTree></jmeterTestPlan>\n<!-- end -->\n",
        );
        let tree = tree.unwrap_or_else(|e| panic!("{}", e[0].render(&sources)));
        assert_eq!(tree.roots[0].testclass, "TestPlan");
    }

    #[test]
    fn value_spans_map_through_xml_escapes() {
        let mut sources = Sources::new();
        let text = "<a>x&amp;${__f(1)}&#13;</a>";
        let id = sources.add_pseudo("t", text);
        let raw = sources.span(id, 3, text.len() - 7);
        let value = "x&${__f(1)}\r";
        let span = value_span(&sources, raw, value, 2..11);
        assert_eq!(sources.slice(span), "${__f(1)}");
        let span = value_span(&sources, raw, value, 11..12);
        assert_eq!(sources.slice(span), "&#13;");
        // A value the raw text does not decode to: the whole span.
        assert_eq!(value_span(&sources, raw, "other", 0..1), raw);
    }

    #[test]
    fn malformed_xml_points_at_the_problem() {
        let (sources, tree) = parse_str("<jmeterTestPlan>\n  <hashTree>\n    <TestPlan>\n  </hashTree>\n");
        let errors = tree.unwrap_err();
        let line = errors[0].one_line(&sources);
        assert!(line.starts_with("t.jmx:4:"), "{line}");
        assert!(line.contains("malformed XML"), "{line}");

        let (sources, tree) = parse_str("<jmeterTestPlan>\n<hashTree>\n");
        let line = tree.unwrap_err()[0].one_line(&sources);
        assert!(line.starts_with("t.jmx:2:2: error: malformed XML: `<hashTree>` is never closed"), "{line}");

        let (sources, tree) = parse_str("<jmeterTestPlan><hashTree><hashTree/></hashTree></jmeterTestPlan>");
        let line = tree.unwrap_err()[0].one_line(&sources);
        assert!(line.contains("`<hashTree>` without a test element"), "{line}");

        let (sources, tree) =
            parse_str("<jmeterTestPlan><hashTree><X><intProp name=\"n\">ten</intProp></X></hashTree></jmeterTestPlan>");
        let line = tree.unwrap_err()[0].one_line(&sources);
        assert!(line.contains("property `n` must be a number, not `ten`"), "{line}");
    }
}
