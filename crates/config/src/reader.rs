//! Typed reading of YAML nodes with located, path-named errors. Every check
//! records its problem and carries on, so one run reports every mistake.

use std::collections::BTreeSet;
use std::fmt;

use indexmap::IndexMap;

use crate::error::ConfigError;
use crate::pyfmt;
use crate::yaml::{Node, Value};

/// Where a value is in the file (`services/web/instances/web-1/ports`), as
/// the messages about it name it. Written out only when a message is
/// recorded: pass `&format_args!("{path}/ports")`, not a `format!`ed string,
/// so that reading a file without mistakes formats no paths at all.
pub type KeyPath<'a> = dyn fmt::Display + 'a;

/// The path of a key of a mapping at a path: `{0}/{1}`.
#[derive(Clone, Copy)]
pub struct Child<'p, 'k>(pub &'p KeyPath<'p>, pub &'k str);

impl fmt::Display for Child<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// The path of one value of a list at a path (`{0}[{i}]`), or of the
/// value itself when it is not in a list (`{0}`).
#[derive(Clone, Copy)]
pub struct Item<'p>(pub &'p KeyPath<'p>, pub Option<usize>);

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.1 {
            Some(i) => write!(f, "{}[{i}]", self.0),
            None => self.0.fmt(f),
        }
    }
}

/// Collects errors and warnings while the model is built.
pub struct Reader<'f> {
    pub file: &'f str,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

/// Shows a value in a message: strings quoted, others as written.
pub fn show(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("\"{}\"", truncate(s)),
        Value::Seq(_) => "a list".to_string(),
        Value::Map(_) => "a mapping".to_string(),
        Value::Null => "nothing (null)".to_string(),
        other => truncate(&pyfmt::str_of(other)),
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

impl<'f> Reader<'f> {
    pub fn new(file: &'f str) -> Self {
        Reader {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records `path: message` at `node`.
    pub fn error(&mut self, node: &Node, path: &KeyPath, message: impl AsRef<str>) {
        self.errors.push(ConfigError::at(
            self.file,
            node.mark,
            format!("{path}: {}", message.as_ref()),
        ));
    }

    pub fn warn(&mut self, node: &Node, path: &KeyPath, message: impl AsRef<str>) {
        self.warnings.push(ConfigError::at(
            self.file,
            node.mark,
            format!("{path}: {}", message.as_ref()),
        ));
    }

    /// `path: expected X, found Y`.
    pub fn expected(&mut self, node: &Node, path: &KeyPath, expected: &str) {
        let found = match &node.value {
            Value::Seq(_) | Value::Map(_) | Value::Null => show(node),
            v => format!("{} {}", v.kind(), show(node)),
        };
        self.error(node, path, format!("expected {expected}, found {found}"));
    }

    /// The entries of a mapping; null counts as empty.
    pub fn map<'n>(&mut self, node: &'n Node, path: &KeyPath) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.expected(node, path, "a mapping");
                None
            }
        }
    }

    /// A mapping key as a name (strings and numbers, as Python would print them).
    pub fn key(&mut self, node: &Node, path: &KeyPath) -> Option<String> {
        match &node.value {
            Value::Str(s) if !s.is_empty() => Some(s.clone()),
            Value::Int(_) | Value::Float(_) => Some(pyfmt::str_of(&node.value)),
            _ => {
                self.expected(node, path, "a name");
                None
            }
        }
    }

    /// A string; numbers are accepted and written as Python writes them.
    pub fn string(&mut self, node: &Node, path: &KeyPath) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Date(_) => Some(pyfmt::str_of(&node.value)),
            _ => {
                self.expected(node, path, "a string");
                None
            }
        }
    }

    /// A non-empty string (see [`name_text`]).
    pub fn name(&mut self, node: &Node, path: &KeyPath, what: &str) -> Option<String> {
        let name = name_text(node);
        if name.is_none() {
            self.expected(node, path, what);
        }
        name
    }

    pub fn boolean(&mut self, node: &Node, path: &KeyPath) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::Null => Some(false),
            _ => {
                self.expected(node, path, "true or false");
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn integer(&mut self, node: &Node, path: &KeyPath, min: i128, max: i128) -> Option<i128> {
        let value = match &node.value {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match value {
            Some(i) if (min..=max).contains(&i) => Some(i),
            _ => {
                self.expected(node, path, &format!("a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// A number of seconds (whole or fractional, not negative).
    pub fn seconds(&mut self, node: &Node, path: &KeyPath) -> Option<f64> {
        let value = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match value {
            Some(f) if f.is_finite() && f >= 0.0 => Some(f),
            _ => {
                self.expected(node, path, "a number of seconds");
                None
            }
        }
    }

    /// One string or a list of strings.
    pub fn string_list(&mut self, node: &Node, path: &KeyPath) -> Vec<String> {
        match &node.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.string(item, &format_args!("{path}[{i}]")))
                .collect(),
            _ => self.string(node, path).into_iter().collect(),
        }
    }

    /// Warns about keys outside `known` (MaestroNG ignored them silently).
    pub fn unknown_keys(&mut self, entries: &[(Node, Node)], path: &KeyPath, known: &[&str]) {
        self.unknown_keys_of(entries, path, &[known]);
    }

    /// Like [`Reader::unknown_keys`], with the known keys in several lists.
    pub fn unknown_keys_of(&mut self, entries: &[(Node, Node)], path: &KeyPath, known: &[&[&str]]) {
        for (k, _) in entries {
            let name = pyfmt::key_text(&k.value);
            if !known.iter().any(|list| list.contains(&name.as_str())) {
                self.warn(k, path, format!("unknown key `{name}` is ignored"));
            }
        }
    }
}

/// A node as a name, when it is one: a non-empty string, or an integer as
/// Python writes it.
pub fn name_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Int(_) => Some(pyfmt::str_of(&node.value)),
        _ => None,
    }
}

/// Looks a string key up in mapping entries.
pub fn get<'n>(entries: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Like [`get`], but a null value counts as absent (as Python's `or` default did).
pub fn get_set<'n>(entries: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
    get(entries, key).filter(|n| !n.is_null())
}

/// A command: a string split like a POSIX shell, or a list.
pub(crate) fn command(r: &mut Reader, node: &Node, path: &KeyPath) -> Option<Vec<String>> {
    match &node.value {
        Value::Str(s) => {
            match shlex::split(s) {
                Some(words) => Some(words),
                None => {
                    r.error(node, path, format!("cannot split {} like a shell would (unclosed quote or trailing backslash)", show(node)));
                    None
                }
            }
        }
        Value::Seq(_) => Some(r.string_list(node, path)),
        Value::Int(_) | Value::Float(_) => Some(vec![pyfmt::str_of(&node.value)]),
        _ => {
            r.expected(node, path, "a command string or a list of arguments");
            None
        }
    }
}
/// Why a size is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SizeError {
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` is not a size")]
    NotASize(String),
}

/// `512m`, `2G`, `1024`: bytes.
pub(crate) fn parse_bytes(text: &str) -> Result<i64, SizeError> {
    let t = text.trim();
    let (digits, unit) = match t.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('k') => (&t[..t.len() - 1], 1024i64),
        Some('m') => (&t[..t.len() - 1], 1024 * 1024),
        Some('g') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    match digits.trim().parse::<i64>() {
        Ok(n) if n >= 0 => n
            .checked_mul(unit)
            .ok_or_else(|| SizeError::TooLarge(text.to_owned())),
        _ => Err(SizeError::NotASize(text.to_owned())),
    }
}

/// A `labels` value: a mapping, or a list of `key=value` strings.
pub(crate) fn labels(
    r: &mut Reader,
    node: Option<&Node>,
    path: &KeyPath,
) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(key) = r.key(k, path) {
                    out.insert(key, pyfmt::env_string(&v.value).unwrap_or_default());
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(label) = r.string(item, &format_args!("{path}[{i}]")) {
                    match label.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), v.to_string()),
                        None => out.insert(label, String::new()),
                    };
                }
            }
        }
        _ => r.expected(node, path, "a list or a mapping of labels"),
    }
    out
}

/// `unknown service "dbb"; expected one of: db, web`.
pub(crate) fn unknown(what: &str, name: &str, known: &BTreeSet<&str>) -> String {
    let list: Vec<&str> = known.iter().copied().take(12).collect();
    let more = if known.len() > list.len() {
        ", …"
    } else {
        ""
    };
    if known.is_empty() {
        format!("unknown {what} `{name}`; no {what}s are defined")
    } else {
        format!(
            "unknown {what} `{name}`; expected one of: {}{more}",
            list.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("2G"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("1k"), Ok(1024));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("1.5g").is_err());
        assert!(parse_bytes("12x").is_err());
    }
}
