//! A small positioned element tree built with quick-xml: every element keeps its path
//! (`/rule/strategy-release/conditions[2]`), line and column for errors and warnings.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::line_col;
use crate::error::{Error, ErrorKind, Location, Result};

/// Deepest element nesting accepted (rules are 4 levels deep).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Default)]
pub(super) struct El {
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
    pub(super) text: String,
    pub(super) children: Vec<El>,
    pub(super) path: String,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl El {
    pub(super) fn at(&self) -> Location {
        Location::new(self.path.clone(), Some(self.line), Some(self.column))
    }

    pub(super) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn text(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|t| !t.is_empty())
    }
}

fn syntax(text: &str, pos: u64, msg: String) -> Error {
    let (line, column) = line_col(text, pos as usize);
    Error::new(
        ErrorKind::Syntax,
        Location::new(String::new(), line, column),
        msg,
    )
}

/// Parses the document into a tree of elements with their positions.
pub(super) fn tree(text: &str) -> Result<El> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    loop {
        let start = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| syntax(text, reader.error_position(), format!("malformed XML: {e}")))?;
        let open = |e: &quick_xml::events::BytesStart<'_>, stack: &Vec<El>| -> Result<El> {
            let name = AsRef::<str>::as_ref(&e.name()).to_string();
            let mut attrs = Vec::new();
            for a in e.attributes() {
                let a = a.map_err(|e| syntax(text, start, format!("malformed attribute: {e}")))?;
                let v = a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| syntax(text, start, format!("bad attribute value: {e}")))?;
                attrs.push((AsRef::<str>::as_ref(&a.key).to_string(), v.into_owned()));
            }
            let parent = stack.last().map_or(String::new(), |p| p.path.clone());
            let index = stack
                .last()
                .map_or(0, |p| p.children.iter().filter(|c| c.name == name).count());
            let path = if index > 0 {
                format!("{parent}/{name}[{}]", index + 1)
            } else {
                format!("{parent}/{name}")
            };
            let (line, column) = line_col(text, start as usize);
            if stack.len() >= MAX_DEPTH {
                return Err(Error::new(
                    ErrorKind::Syntax,
                    Location::new(path, line, column),
                    format!("elements are nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            Ok(El {
                name,
                attrs,
                path,
                line: line.unwrap_or(1),
                column: column.unwrap_or(1),
                ..El::default()
            })
        };
        match ev {
            Event::Start(e) => {
                let el = open(&e, &stack)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = open(&e, &stack)?;
                close(el, &mut stack, &mut root);
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    close(el, &mut stack, &mut root);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let ch = r
                    .resolve_char_ref()
                    .map_err(|e| syntax(text, start, format!("bad character reference: {e}")))?;
                let s: String = match ch {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .ok_or_else(|| {
                            syntax(
                                text,
                                start,
                                format!("unknown entity &{};", r.xml10_content()),
                            )
                        })?
                        .to_string(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::DocType(_) => {
                return Err(syntax(
                    text,
                    start,
                    "DOCTYPE declarations are not accepted".into(),
                ))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(Error::new(
            ErrorKind::Syntax,
            open.at(),
            format!("<{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| syntax(text, 0, "the document has no <rule> element".into()))
}

fn close(el: El, stack: &mut [El], root: &mut Option<El>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => {
            if root.is_none() {
                *root = Some(el);
            }
        }
    }
}
