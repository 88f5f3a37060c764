//! YAML 1.2 (core schema, as Compose v2 reads it) into a tree that keeps the
//! line and column of every node.
//!
//! The event parser (saphyr-parser) does the syntax; this module does anchors
//! and aliases (bounded), merge keys `<<`, duplicate keys as errors, the core
//! schema's implicit types (`yes`/`no`/`on`/`off` and `80:80` stay strings),
//! and keeps the local tags Compose gives a meaning to (`!reset`, `!override`).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::error::{ComposeError, Loc, Mark};

/// Most nodes a document may expand to through aliases (billion-laughs guard).
pub const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 200;

/// One value of the document, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
    /// `reset` or `override` when the node was tagged `!reset` / `!override`.
    pub tag: Option<String>,
}

/// The YAML 1.2 core schema's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// The number and its text as written.
    Float(f64, String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node, Node)>),
}

impl Value {
    /// A short name of the type, for error messages ("a string", "a list").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(..) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn null(mark: Mark) -> Node {
        Node {
            value: Value::Null,
            mark,
            tag: None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Entries of a mapping as (key, key node, value node).
    pub fn as_map(&self) -> Option<&[(String, Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v)
    }
    /// A scalar as text (numbers and booleans as written), or `None`.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f, _) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(_, k, v)| k.count() + v.count()).sum(),
            _ => 0,
        }
    }
}

/// Parses one YAML document. `file` names the source in error messages.
pub fn parse(text: &str, file: &str) -> Result<Node, ComposeError> {
    let mut composer = Composer {
        file,
        anchors: HashMap::new(),
        expanded: 0,
    };
    let mut parser = Parser::new_from_str(text);
    let mut root: Option<Node> = None;
    loop {
        let (event, span) = composer.next(&mut parser)?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                let mark = mark_of(&span);
                if root.is_some() {
                    return Err(composer.err(
                        mark,
                        "found a second YAML document (`---`); expected a single document",
                    ));
                }
                let (event, span) = composer.next(&mut parser)?;
                root = Some(composer.node(&mut parser, event, span, 0)?);
            }
            other => {
                return Err(composer.err(mark_of(&span), format!("unexpected YAML event {other:?}")))
            }
        }
    }
    Ok(root.unwrap_or(Node::null(Mark { line: 1, column: 1 })))
}

fn mark_of(span: &Span) -> Mark {
    Mark {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

type Input<'i> = Parser<'i, saphyr_parser::StrInput<'i>>;

struct Composer<'f> {
    file: &'f str,
    anchors: HashMap<usize, Node>,
    expanded: usize,
}

impl<'f> Composer<'f> {
    fn err(&self, mark: Mark, message: impl Into<String>) -> ComposeError {
        ComposeError::at(Loc::new(self.file, mark, ""), message)
    }

    fn next<'i>(&self, parser: &mut Input<'i>) -> Result<(Event<'i>, Span), ComposeError> {
        match parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(self.err(
                Mark {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
                format!("invalid YAML: {}", e.info()),
            )),
            None => Err(self.err(
                Mark { line: 1, column: 1 },
                "invalid YAML: unexpected end of the stream",
            )),
        }
    }

    fn grow(&mut self, by: usize, mark: Mark) -> Result<(), ComposeError> {
        self.expanded += by;
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(self.err(
                mark,
                format!("YAML aliases expand to more than {MAX_EXPANDED_NODES} values; expected a document of reasonable size"),
            ));
        }
        Ok(())
    }

    fn node<'i>(
        &mut self,
        parser: &mut Input<'i>,
        event: Event<'i>,
        span: Span,
        depth: usize,
    ) -> Result<Node, ComposeError> {
        let mark = mark_of(&span);
        if depth > MAX_DEPTH {
            return Err(self.err(
                mark,
                format!("YAML nesting deeper than {MAX_DEPTH} levels; expected a flatter document"),
            ));
        }
        self.grow(1, mark)?;
        let (node, anchor) = match event {
            Event::Alias(id) => {
                let target = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.err(mark, "found an alias to an unknown anchor"))?;
                self.grow(target.count(), mark)?;
                return Ok(Node { mark, ..target });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (value, tag) = self.scalar(&text, style, tag.as_deref(), mark)?;
                (Node { value, mark, tag }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = self.collection_tag(tag.as_deref(), "seq", mark)?;
                let mut items = Vec::new();
                loop {
                    let (ev, sp) = self.next(parser)?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(parser, ev, sp, depth + 1)?);
                }
                let value = Value::Seq(items);
                (Node { value, mark, tag }, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let tag = self.collection_tag(tag.as_deref(), "map", mark)?;
                let value = self.mapping(parser, depth)?;
                (Node { value, mark, tag }, anchor)
            }
            other => return Err(self.err(mark, format!("unexpected YAML event {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// The entries of a mapping: merged keys (`<<`) first, explicit keys
    /// overriding them in place; a key twice is an error.
    fn mapping<'i>(&mut self, parser: &mut Input<'i>, depth: usize) -> Result<Value, ComposeError> {
        let mut explicit: Vec<(String, Node, Node)> = Vec::new();
        let mut merged: Vec<(String, Node, Node)> = Vec::new();
        loop {
            let (ev, sp) = self.next(parser)?;
            if matches!(ev, Event::MappingEnd) {
                break;
            }
            let is_merge =
                matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            let key = self.node(parser, ev, sp, depth + 1)?;
            let (vev, vsp) = self.next(parser)?;
            let value = self.node(parser, vev, vsp, depth + 1)?;
            if is_merge {
                self.merge_into(&mut merged, value)?;
                continue;
            }
            let Some(name) = key
                .scalar_text()
                .or_else(|| key.as_str().map(str::to_string))
            else {
                let kind = if matches!(key.value, Value::Null) {
                    "null"
                } else {
                    key.value.kind()
                };
                return Err(self.err(
                    key.mark,
                    format!("found {kind} as a mapping key; expected a string"),
                ));
            };
            if let Some((_, first, _)) = explicit.iter().find(|(k, _, _)| *k == name) {
                return Err(self.err(
                    key.mark,
                    format!(
                        "duplicate key `{name}` (first defined at line {}, column {}); expected each key once per mapping",
                        first.mark.line, first.mark.column
                    ),
                ));
            }
            explicit.push((name, key, value));
        }
        let mut entries = merged;
        for (name, k, v) in explicit {
            if let Some(slot) = entries.iter_mut().find(|(n, _, _)| *n == name) {
                *slot = (name, k, v);
            } else {
                entries.push((name, k, v));
            }
        }
        Ok(Value::Map(entries))
    }

    /// Adds the entries of a merge value (a mapping or a list of mappings) to
    /// `merged`; earlier sources win over later ones.
    fn merge_into(
        &self,
        merged: &mut Vec<(String, Node, Node)>,
        value: Node,
    ) -> Result<(), ComposeError> {
        let sources = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            other => {
                return Err(self.err(
                    value.mark,
                    format!(
                        "merge key `<<` needs a mapping or a list of mappings, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        for source in sources {
            let Value::Map(entries) = source.value else {
                return Err(self.err(
                    source.mark,
                    format!("merge key `<<` needs a mapping or a list of mappings, found {} in the list", source.value.kind()),
                ));
            };
            for (n, k, v) in entries {
                if !merged.iter().any(|(m, _, _)| *m == n) {
                    merged.push((n, k, v));
                }
            }
        }
        Ok(())
    }

    /// `!reset` and `!override` are kept; core tags of the right kind pass.
    fn collection_tag(
        &self,
        tag: Option<&Tag>,
        expected: &str,
        mark: Mark,
    ) -> Result<Option<String>, ComposeError> {
        match tag {
            None => Ok(None),
            Some(t) if core_suffix(t) == Some(expected) => Ok(None),
            Some(t) => self.local_tag(t, mark),
        }
    }

    fn local_tag(&self, tag: &Tag, mark: Mark) -> Result<Option<String>, ComposeError> {
        if tag.handle == "!" && (tag.suffix == "reset" || tag.suffix == "override") {
            return Ok(Some(tag.suffix.clone()));
        }
        Err(self.err(
            mark,
            format!(
                "unsupported YAML tag `{}{}`; expected plain values, !reset or !override",
                tag.handle, tag.suffix
            ),
        ))
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        mark: Mark,
    ) -> Result<(Value, Option<String>), ComposeError> {
        if let Some(tag) = tag {
            let bad = || {
                self.err(
                    mark,
                    format!(
                        "`{text}` is not a valid value for tag `{}{}`",
                        tag.handle, tag.suffix
                    ),
                )
            };
            return match core_suffix(tag) {
                Some("str") => Ok((Value::Str(text.to_string()), None)),
                Some("int") => match resolve_plain(text) {
                    v @ Value::Int(_) => Ok((v, None)),
                    _ => Err(bad()),
                },
                Some("float") => match resolve_plain(text) {
                    Value::Int(i) => Ok((Value::Float(i as f64, text.to_string()), None)),
                    v @ Value::Float(..) => Ok((v, None)),
                    _ => Err(bad()),
                },
                Some("bool") => match resolve_plain(text) {
                    v @ Value::Bool(_) => Ok((v, None)),
                    _ => Err(bad()),
                },
                Some("null") => Ok((Value::Null, None)),
                _ => {
                    let local = self.local_tag(tag, mark)?;
                    let value = if style == ScalarStyle::Plain {
                        resolve_plain(text)
                    } else {
                        Value::Str(text.to_string())
                    };
                    Ok((value, local))
                }
            };
        }
        if style != ScalarStyle::Plain {
            return Ok((Value::Str(text.to_string()), None));
        }
        Ok((resolve_plain(text), None))
    }
}

fn core_suffix(tag: &Tag) -> Option<&str> {
    (tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!").then_some(tag.suffix.as_str())
}

/// The YAML 1.2 core schema's resolution of an unquoted scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY, text.to_string())
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY, text.to_string()),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN, text.to_string()),
        _ => {}
    }
    // Integers as Go's `strconv.ParseInt(s, 0, 64)` reads them (the YAML
    // library Compose v2 uses does so): underscores dropped, `0x`, `0o`,
    // `0b` and a leading `0` (octal) give the base.
    let plain = text.replace('_', "");
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let (neg, body) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x").filter(|h| digits(h, 16)) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o").filter(|o| digits(o, 8)) {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b").filter(|b| digits(b, 2)) {
        i64::from_str_radix(b, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && digits(body, 8) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else if digits(body, 10) && !text.contains('_') {
        body.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Value::Int(if neg { -i } else { i });
    }
    let body = text.trim_start_matches(['-', '+']);
    let float_like = body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if float_like {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f, text.to_string());
        }
    }
    Value::Str(text.to_string())
}
