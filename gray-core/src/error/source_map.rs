//! Maps the field path of an error found while compiling a spec (`groups.canary.nodes[1].weight`,
//! `rules[0] (id "cookie").route`) back to a line and column of the text the spec was read from.
//!
//! serde tells where a *syntax* error is, but once a spec has parsed its values carry no
//! positions. So only when compiling fails, the text is parsed again with a parser that keeps
//! them — `yaml-rust2`'s event parser for YAML and JSON (JSON is YAML flow syntax), `toml`'s
//! spanned document for TOML — into a small tree, and the path is walked down that tree.
//!
//! The position is the one of the offending *value*: the scalar, or the `{` / `[` of a flow
//! collection, or the header of a TOML table. A YAML block collection has no start of its own on
//! the line of its key, so for one that is a key's value the key's position is used. Path
//! segments are matched against the keys that are in the document, longest first, so that names
//! with dots (`groups.v1.2.nodes`) resolve; annotations such as ` (id "cookie")` are skipped. A
//! path that does not lead to a node gives no position at all: never a wrong line.

use std::rc::Rc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::format::Format;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// One value of the document.
#[derive(Debug, Clone)]
struct Node {
    /// Where the value starts.
    pos: Pos,
    /// A YAML block collection: `pos` is not on the line of its key.
    block: bool,
    body: Rc<Body>,
}

#[derive(Debug)]
enum Body {
    /// A scalar with its value and, when its text in the source is the value itself (plain or
    /// quoted without escapes, on one line), the column where that text begins.
    Scalar {
        value: String,
        verbatim_at: Option<Pos>,
    },
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

#[derive(Debug)]
struct Entry {
    /// `None` for keys that are not scalars.
    key: Option<String>,
    key_pos: Pos,
    value: Node,
}

/// Where the value at `path` is in `text`, or `None` when the text does not parse or the path
/// is not in it. `expr_column` is a 1-based column within the value (an expression error); the
/// position then points at that character when the value stands verbatim in the text.
pub(crate) fn locate(
    text: &str,
    format: Format,
    path: &str,
    expr_column: Option<usize>,
) -> Option<Pos> {
    if path.is_empty() {
        return None;
    }
    SourceMap::parse(text, format)?.locate(path, expr_column)
}

/// A text parsed once, to locate many paths in it (the lints of one compile).
pub(crate) struct SourceMap {
    root: Node,
}

impl SourceMap {
    /// `None` when the text does not parse.
    pub(crate) fn parse(text: &str, format: Format) -> Option<SourceMap> {
        let root = match format {
            Format::Yaml | Format::Json => yaml_tree(text)?,
            Format::Toml => toml_tree(text)?,
        };
        Some(SourceMap { root })
    }

    /// As [`locate`].
    pub(crate) fn locate(&self, path: &str, expr_column: Option<usize>) -> Option<Pos> {
        if path.is_empty() {
            return None;
        }
        let (node, key_pos) = walk(&self.root, path)?;
        let pos = match (&*node.body, key_pos) {
            (Body::Map(_) | Body::Seq(_), Some(k)) if node.block => k,
            (Body::Map(entries), None) if node.block => {
                entries.first().map_or(node.pos, |e| e.key_pos)
            }
            _ => node.pos,
        };
        if let (
            Some(c),
            Body::Scalar {
                value,
                verbatim_at: Some(start),
            },
        ) = (expr_column, &*node.body)
        {
            let before = c.saturating_sub(1);
            let prefix: String = value.chars().take(before).collect();
            if prefix.chars().count() == before && !prefix.contains('\n') {
                return Some(Pos {
                    line: start.line,
                    column: start.column + before,
                });
            }
        }
        Some(pos)
    }
}

/// Follows `path` from the root mapping; returns the node and, when it is a mapping's value,
/// the position of its key.
fn walk<'a>(root: &'a Node, path: &str) -> Option<(&'a Node, Option<Pos>)> {
    // The root is a mapping and the path starts with one of its keys.
    descend(root, None, path, true)
}

fn descend<'a>(
    node: &'a Node,
    key_pos: Option<Pos>,
    rest: &str,
    at_root: bool,
) -> Option<(&'a Node, Option<Pos>)> {
    let rest = skip_annotation(rest)?;
    if rest.is_empty() {
        return Some((node, key_pos));
    }
    if let Some(r) = rest.strip_prefix('[') {
        let (idx, after) = r.split_once(']')?;
        if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let Body::Seq(items) = &*node.body else {
            return None;
        };
        let item = items.get(idx.parse::<usize>().ok()?)?;
        return descend(item, None, after, false);
    }
    let rest = if at_root {
        rest
    } else {
        rest.strip_prefix('.')?
    };
    let Body::Map(entries) = &*node.body else {
        return None;
    };
    // Candidate keys that the path continues with, longest first; of equal keys the last one
    // (a JSON object with a key twice keeps the last value).
    let mut candidates: Vec<(usize, &Entry)> = Vec::new();
    for key_of in [direct as fn(&Entry) -> Option<&str>, alias] {
        candidates.clear();
        for e in entries.iter().rev() {
            let Some(k) = key_of(e) else { continue };
            if let Some(after) = rest.strip_prefix(k) {
                if after.is_empty() || after.starts_with(['.', '[']) || after.starts_with(" (") {
                    candidates.push((k.len(), e));
                }
            }
        }
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        for &(len, e) in &candidates {
            if let Some(found) = descend(&e.value, Some(e.key_pos), &rest[len..], false) {
                return Some(found);
            }
        }
    }
    None
}

fn direct(e: &Entry) -> Option<&str> {
    e.key.as_deref()
}

/// The field name that errors use for a key written with a serde alias.
fn alias(e: &Entry) -> Option<&str> {
    match e.key.as_deref()? {
        "exact" => Some("equals"),
        _ => None,
    }
}

/// Skips annotations such as ` (id "cookie")` (a Rust-quoted string inside parentheses).
/// `None` when an annotation is not closed.
fn skip_annotation(mut rest: &str) -> Option<&str> {
    while let Some(r) = rest.strip_prefix(" (") {
        let mut in_str = false;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in r.char_indices() {
            if in_str {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => {}
                }
            } else if c == '"' {
                in_str = true;
            } else if c == ')' {
                end = Some(i);
                break;
            }
        }
        rest = &r[end? + 1..];
    }
    Some(rest)
}

// ---- YAML and JSON ------------------------------------------------------------------------

/// A collection being read.
struct Open {
    pos: Pos,
    block: bool,
    anchor: usize,
    kind: OpenKind,
}

enum OpenKind {
    Map {
        entries: Vec<Entry>,
        key: Option<(Option<String>, Pos)>,
    },
    Seq(Vec<Node>),
}

/// Deeper documents are not mapped (the tree is dropped recursively).
const MAX_DEPTH: usize = 256;

struct Builder<'t> {
    text: &'t str,
    /// Set when the document nests more than [`MAX_DEPTH`] collections; it is then not mapped.
    too_deep: bool,
    /// Byte offset of each char, when the text is not ASCII (markers count chars).
    char_starts: Option<Vec<usize>>,
    stack: Vec<Open>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
}

impl Builder<'_> {
    /// The text from a marker on.
    fn from(&self, m: Marker) -> &str {
        let at = match &self.char_starts {
            None => m.index(),
            Some(starts) => starts.get(m.index()).copied().unwrap_or(self.text.len()),
        };
        self.text.get(at..).unwrap_or("")
    }

    fn pos(m: Marker) -> Pos {
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }

    fn scalar(&self, value: String, style: TScalarStyle, m: Marker) -> Node {
        let pos = Builder::pos(m);
        let src = self.from(m);
        let quoted = |q: char| {
            src.strip_prefix(q)
                .and_then(|body| body.strip_prefix(value.as_str()))
                .is_some_and(|after| after.starts_with(q))
        };
        let inside = Pos {
            line: pos.line,
            column: pos.column + 1,
        };
        let verbatim_at = match style {
            TScalarStyle::Plain => src.starts_with(value.as_str()).then_some(pos),
            TScalarStyle::SingleQuoted => (!value.contains('\'') && quoted('\'')).then_some(inside),
            TScalarStyle::DoubleQuoted => quoted('"').then_some(inside),
            _ => None,
        };
        Node {
            pos,
            block: false,
            body: Rc::new(Body::Scalar { value, verbatim_at }),
        }
    }

    fn open(&mut self, m: Marker, anchor: usize, map: bool) {
        let flow = self.from(m).starts_with(['{', '[']);
        self.stack.push(Open {
            pos: Builder::pos(m),
            block: !flow,
            anchor,
            kind: if map {
                OpenKind::Map {
                    entries: Vec::new(),
                    key: None,
                }
            } else {
                OpenKind::Seq(Vec::new())
            },
        });
    }

    fn close(&mut self) {
        let Some(open) = self.stack.pop() else { return };
        let body = match open.kind {
            OpenKind::Map { entries, .. } => Body::Map(entries),
            OpenKind::Seq(items) => Body::Seq(items),
        };
        let node = Node {
            pos: open.pos,
            block: open.block,
            body: Rc::new(body),
        };
        if open.anchor != 0 {
            self.anchors.push((open.anchor, node.clone()));
        }
        self.add(node);
    }

    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open {
                kind: OpenKind::Seq(items),
                ..
            }) => items.push(node),
            Some(Open {
                kind: OpenKind::Map { entries, key },
                ..
            }) => match key.take() {
                None => {
                    let k = match &*node.body {
                        Body::Scalar { value, .. } => Some(value.clone()),
                        _ => None,
                    };
                    *key = Some((k, node.pos));
                }
                Some((k, key_pos)) => entries.push(Entry {
                    key: k,
                    key_pos,
                    value: node,
                }),
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, m: Marker) {
        if self.too_deep {
            return;
        }
        match ev {
            Event::Scalar(value, style, anchor, _) => {
                let node = self.scalar(value, style, m);
                if anchor != 0 {
                    self.anchors.push((anchor, node.clone()));
                }
                self.add(node);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.too_deep = true;
            }
            Event::SequenceStart(anchor, _) => self.open(m, anchor, false),
            Event::MappingStart(anchor, _) => self.open(m, anchor, true),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => {
                // The alias stands where it is written; what is inside it is where the anchor
                // defined it.
                let target = self.anchors.iter().rev().find(|(a, _)| *a == id);
                let node = match target {
                    Some((_, n)) => Node {
                        pos: Builder::pos(m),
                        block: false,
                        body: n.body.clone(),
                    },
                    None => Node {
                        pos: Builder::pos(m),
                        block: false,
                        body: Rc::new(Body::Scalar {
                            value: String::new(),
                            verbatim_at: None,
                        }),
                    },
                };
                self.add(node);
            }
            _ => {}
        }
    }
}

fn yaml_tree(text: &str) -> Option<Node> {
    let mut b = Builder {
        text,
        too_deep: false,
        char_starts: (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect()),
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
    };
    Parser::new_from_str(text).load(&mut b, false).ok()?;
    if b.too_deep {
        return None;
    }
    b.root
}

// ---- TOML ---------------------------------------------------------------------------------

fn toml_tree(text: &str) -> Option<Node> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let lines = LineIndex::new(text);
    Some(toml_table(
        doc.get_ref(),
        Pos { line: 1, column: 1 },
        text,
        &lines,
    ))
}

fn toml_table(table: &toml::de::DeTable<'_>, pos: Pos, text: &str, lines: &LineIndex) -> Node {
    let entries = table
        .iter()
        .map(|(k, v)| Entry {
            key: Some(k.get_ref().to_string()),
            key_pos: lines.pos(text, k.span().start),
            value: toml_value(v, text, lines),
        })
        .collect();
    Node {
        pos,
        block: false,
        body: Rc::new(Body::Map(entries)),
    }
}

fn toml_value(v: &toml::Spanned<toml::de::DeValue<'_>>, text: &str, lines: &LineIndex) -> Node {
    use toml::de::DeValue;
    let span = v.span();
    let pos = lines.pos(text, span.start);
    match v.get_ref() {
        DeValue::Table(t) => toml_table(t, pos, text, lines),
        DeValue::Array(items) => Node {
            pos,
            block: false,
            body: Rc::new(Body::Seq(
                items.iter().map(|i| toml_value(i, text, lines)).collect(),
            )),
        },
        DeValue::String(s) => {
            let raw = text.get(span.clone()).unwrap_or("");
            let inner = raw
                .strip_prefix(['"', '\''])
                .and_then(|r| r.strip_suffix(['"', '\'']));
            let verbatim_at = (inner == Some(s.as_ref())
                && !raw.starts_with("\"\"\"")
                && !raw.starts_with("'''"))
            .then_some(Pos {
                line: pos.line,
                column: pos.column + 1,
            });
            Node {
                pos,
                block: false,
                body: Rc::new(Body::Scalar {
                    value: s.to_string(),
                    verbatim_at,
                }),
            }
        }
        _ => Node {
            pos,
            block: false,
            body: Rc::new(Body::Scalar {
                value: String::new(),
                verbatim_at: None,
            }),
        },
    }
}

/// Byte offsets of line starts, for turning TOML spans into lines and columns.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }

    fn pos(&self, text: &str, offset: usize) -> Pos {
        let line = self.0.partition_point(|&s| s <= offset).max(1);
        let start = self.0[line - 1];
        let column = text
            .get(start..offset.min(text.len()))
            .map_or(1, |s| s.chars().count() + 1);
        Pos { line, column }
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (Some(line), Some(col))
}

#[cfg(test)]
mod tests;
