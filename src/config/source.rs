//! Where configuration text comes from: every loaded file and every pseudo-source (an `-o`
//! override, a predefined environment variable) is kept with its full text, so that a [`Span`]
//! found anywhere later can be turned back into `file:line:col` and a quoted source line.

use std::path::{Path, PathBuf};

/// Identifies one entry of [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(u32);

impl SourceId {
    /// The position of this source in [`Sources`], in registration order.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The id at a registration position (used to rebuild spans read back through serde).
    pub(crate) fn from_index(index: usize) -> Self {
        SourceId(u32::try_from(index).unwrap_or(u32::MAX))
    }
}

/// A location in one source: a byte range plus the 1-based line and column of its start.
///
/// `offset` and `len` count bytes of the source text; `col` counts characters, so it matches
/// what an editor shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// The source the span points into.
    pub source: SourceId,
    /// Byte offset of the first byte.
    pub offset: usize,
    /// 1-based line of the first byte.
    pub line: usize,
    /// 1-based column (in characters) of the first byte.
    pub col: usize,
    /// Length in bytes (0 for a point).
    pub len: usize,
}

/// A span that points nowhere (for values built in code); it renders as `<unknown>:0:0`.
impl Default for Span {
    fn default() -> Self {
        Span { source: SourceId(u32::MAX), offset: 0, line: 0, col: 0, len: 0 }
    }
}

impl Span {
    /// Byte offset just past the end of the span.
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
}

/// One loaded file or pseudo-source.
#[derive(Clone, Debug)]
pub struct SourceFile {
    name: String,
    path: Option<PathBuf>,
    text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, path: Option<PathBuf>, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { name, path, text, line_starts }
    }

    /// The name shown in messages: the path as given, or `<override 1: -o …>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's path, `None` for a pseudo-source.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The full text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Number of lines (a trailing newline does not start a new line).
    pub fn line_count(&self) -> usize {
        let n = self.line_starts.len();
        if n > 1 && self.line_starts[n - 1] == self.text.len() {
            n - 1
        } else {
            n
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self.line_starts.get(line).map_or(self.text.len(), |&next| next);
        let text = self.text.get(start..end)?;
        Some(text.trim_end_matches(['\n', '\r']))
    }

    /// Byte offset of a 1-based line and 0-based character column, clamped to the text.
    pub fn offset_of(&self, line: usize, col0: usize) -> usize {
        let Some(&start) = line.checked_sub(1).and_then(|l| self.line_starts.get(l)) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let within = rest.char_indices().nth(col0).map_or(rest.len(), |(i, _)| i);
        start + within
    }

    /// 1-based line and column of a byte offset (clamped to the text and to a char boundary).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let col = self.text[start..offset].chars().count() + 1;
        (line_idx + 1, col)
    }
}

/// Every text the configuration was read from, in registration order.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// An empty set of sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a file read from `path`; it is named by the path as given.
    pub fn add_file(&mut self, path: &Path, text: String) -> SourceId {
        let name = path.display().to_string();
        self.push(SourceFile::new(name, Some(path.to_path_buf()), text))
    }

    /// Registers a pseudo-source such as `<override 1: -o a=b>` with its text.
    pub fn add_pseudo(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        self.push(SourceFile::new(name.into(), None, text.into()))
    }

    fn push(&mut self, file: SourceFile) -> SourceId {
        let id = SourceId::from_index(self.files.len());
        self.files.push(file);
        id
    }

    /// The source with this id.
    ///
    /// Ids are only created by this type, so a missing entry means the id came from another
    /// `Sources`; an empty placeholder is returned rather than panicking.
    pub fn get(&self, id: SourceId) -> &SourceFile {
        static EMPTY: std::sync::OnceLock<SourceFile> = std::sync::OnceLock::new();
        self.files
            .get(id.index())
            .unwrap_or_else(|| EMPTY.get_or_init(|| SourceFile::new("<unknown>".into(), None, String::new())))
    }

    /// All sources in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (SourceId::from_index(i), f))
    }

    /// The display name of a source.
    pub fn name(&self, id: SourceId) -> &str {
        self.get(id).name()
    }

    /// The text a span covers (empty if the span does not fit the source).
    pub fn slice(&self, span: Span) -> &str {
        self.get(span.source).text().get(span.offset..span.end()).unwrap_or("")
    }

    /// A span from a byte range of a source, computing its line and column.
    pub fn span(&self, source: SourceId, offset: usize, len: usize) -> Span {
        let file = self.get(source);
        let offset = offset.min(file.text().len());
        let len = len.min(file.text().len() - offset);
        let (line, col) = file.line_col(offset);
        Span { source, offset, line, col, len }
    }

    /// A span covering a whole source (used for pseudo-sources).
    pub fn whole(&self, source: SourceId) -> Span {
        self.span(source, 0, self.get(source).text().len())
    }

    /// Maps a byte range *inside the value* of a scalar to a span in the file.
    ///
    /// `span` is the scalar's span (as kept by the located tree or a `Spanned<String>`),
    /// `value` the scalar's value as the program sees it, `offset`/`len` a byte range of
    /// `value`. Works exactly for plain and single/double-quoted scalars on one line and
    /// best-effort for multi-line ones. If the text at `span` does not decode to `value`
    /// (e.g. the value came from `${VAR}` substitution), the whole scalar span is returned.
    pub fn inner_span(&self, span: Span, value: &str, offset: usize, len: usize) -> Span {
        let text = self.get(span.source).text();
        let Some(map) = crate::config::scalar::decode_scalar(text, span.offset, Some(value)) else {
            return span;
        };
        let start = map.file_offset(offset);
        let end = map.file_offset(offset + len).max(start);
        self.span(span.source, start, end - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_of_offsets() {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("a.yml"), "a: 1\nbé: x\n".to_string());
        let file = sources.get(id);
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(5), (2, 1));
        // `x` is after a two-byte character: column counts characters.
        let x = file.text().find('x').unwrap();
        assert_eq!(file.line_col(x), (2, 5));
        assert_eq!(file.offset_of(2, 4), x);
        assert_eq!(file.line(2), Some("bé: x"));
        assert_eq!(file.line(3), Some(""));
        assert_eq!(file.line(4), None);
        assert_eq!(file.line_count(), 2);
        let span = sources.span(id, x, 1);
        assert_eq!((span.line, span.col, sources.slice(span)), (2, 5, "x"));
    }

    #[test]
    fn pseudo_sources_have_names() {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("<override 1: -o a=b>", "a=b");
        assert_eq!(sources.name(id), "<override 1: -o a=b>");
        assert!(sources.get(id).path().is_none());
        assert_eq!(sources.slice(sources.whole(id)), "a=b");
    }
}
