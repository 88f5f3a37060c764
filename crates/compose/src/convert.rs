//! Reading typed values out of the YAML tree, each failure a located error:
//! strings, booleans, integers, lists, `KEY=value` mappings, durations in
//! Go's form (`1m30s`), byte sizes (`512m`) and paths made absolute.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value as Json};

use crate::error::{ComposeError, Loc};
use crate::yaml::{Node, Value};

/// The file being read: its name for messages, the directory its relative
/// paths are resolved against.
#[derive(Debug, Clone)]
pub struct FileCtx {
    pub file: String,
    pub dir: PathBuf,
}

impl FileCtx {
    pub fn loc(&self, node: &Node, path: &str) -> Loc {
        Loc::new(&self.file, node.mark, path)
    }
    pub fn err(&self, node: &Node, path: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::at(self.loc(node, path), message)
    }
    pub fn expected(&self, node: &Node, path: &str, what: &str) -> ComposeError {
        self.err(
            node,
            path,
            format!("expected {what}, found {}", found(node)),
        )
    }

    pub fn string(&self, node: &Node, path: &str) -> Result<String, ComposeError> {
        node.as_str()
            .map(str::to_string)
            .ok_or_else(|| self.expected(node, path, "a string"))
    }

    /// A string, number or boolean, as text.
    pub fn scalar(&self, node: &Node, path: &str) -> Result<String, ComposeError> {
        node.scalar_text()
            .ok_or_else(|| self.expected(node, path, "a string or a number"))
    }

    pub fn boolean(&self, node: &Node, path: &str) -> Result<bool, ComposeError> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) if matches!(s.as_str(), "true" | "True" | "TRUE") => Ok(true),
            Value::Str(s) if matches!(s.as_str(), "false" | "False" | "FALSE") => Ok(false),
            _ => Err(self.expected(node, path, "a boolean (true or false)")),
        }
    }

    pub fn integer(&self, node: &Node, path: &str) -> Result<i64, ComposeError> {
        match &node.value {
            Value::Int(i) => Ok(*i),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.expected(node, path, "an integer")),
            _ => Err(self.expected(node, path, "an integer")),
        }
    }

    pub fn number(&self, node: &Node, path: &str) -> Result<Json, ComposeError> {
        let f = match &node.value {
            Value::Int(i) => return Ok(Json::from(*i)),
            Value::Float(f, _) => *f,
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| self.expected(node, path, "a number"))?,
            _ => return Err(self.expected(node, path, "a number")),
        };
        if f.fract() == 0.0 && f.abs() < 1e15 {
            return Ok(Json::from(f as i64));
        }
        serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| self.expected(node, path, "a finite number"))
    }

    pub fn seq<'n>(&self, node: &'n Node, path: &str) -> Result<&'n [Node], ComposeError> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.expected(node, path, "a list")),
        }
    }

    pub fn map<'n>(
        &self,
        node: &'n Node,
        path: &str,
    ) -> Result<&'n [(String, Node, Node)], ComposeError> {
        node.as_map()
            .ok_or_else(|| self.expected(node, path, "a mapping"))
    }

    /// A list of strings (numbers taken as text).
    pub fn strings(&self, node: &Node, path: &str) -> Result<Vec<String>, ComposeError> {
        self.seq(node, path)?
            .iter()
            .enumerate()
            .map(|(i, item)| self.scalar(item, &format!("{path}[{i}]")))
            .collect()
    }

    /// One string or a list of them.
    pub fn string_or_list(&self, node: &Node, path: &str) -> Result<Vec<String>, ComposeError> {
        match &node.value {
            Value::Seq(_) => self.strings(node, path),
            _ => Ok(vec![self.scalar(node, path)?]),
        }
    }

    /// A mapping of scalars, or a list of `KEY=value` (or `KEY` alone):
    /// entries in order; a value of `None` is a key without one.
    pub fn key_values(
        &self,
        node: &Node,
        path: &str,
    ) -> Result<Vec<(String, Option<String>)>, ComposeError> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, _, v)| match &v.value {
                    Value::Null => Ok((k.clone(), None)),
                    _ => Ok((k.clone(), Some(self.scalar(v, &format!("{path}/{k}"))?))),
                })
                .collect(),
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let text = self.scalar(item, &format!("{path}[{i}]"))?;
                    Ok(match text.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (text, None),
                    })
                })
                .collect(),
            _ => Err(self.expected(node, path, "a mapping or a list of KEY=value")),
        }
    }

    /// Like [`key_values`](Self::key_values), a key alone taking `""`.
    pub fn labels(&self, node: &Node, path: &str) -> Result<Json, ComposeError> {
        let mut out = Map::new();
        for (k, v) in self.key_values(node, path)? {
            out.insert(k, Json::String(v.unwrap_or_default()));
        }
        Ok(Json::Object(out))
    }

    /// A duration (`1m30s`, `500ms`) as Go prints it.
    pub fn duration(&self, node: &Node, path: &str) -> Result<String, ComposeError> {
        let bad = || {
            self.err(
                node,
                path,
                format!("`{}` is not a duration; expected a number with a unit (ns, us, ms, s, m, h) such as `10s` or `1m30s`", node.scalar_text().unwrap_or_default()),
            )
        };
        let nanos = match &node.value {
            Value::Int(0) => 0,
            Value::Str(s) => parse_duration(s).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        Ok(format_duration(nanos))
    }

    /// A byte size (`512m`, `1g`, `1024`) as a number of bytes.
    pub fn bytes(&self, node: &Node, path: &str) -> Result<i64, ComposeError> {
        let bad = || {
            self.err(
                node,
                path,
                format!("`{}` is not a size; expected a number of bytes, optionally with a unit (b, k, m, g)", node.scalar_text().unwrap_or_default()),
            )
        };
        match &node.value {
            Value::Int(i) if *i >= 0 => Ok(*i),
            Value::Str(s) => parse_bytes(s).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// A host path, `~` expanded with `home`, made absolute against the
    /// file's directory and cleaned.
    pub fn host_path(&self, raw: &str, home: Option<&str>) -> String {
        absolute(&self.dir, raw, home)
    }
}

/// `raw` made absolute against `dir` (with `~` expanded) and cleaned.
pub fn absolute(dir: &Path, raw: &str, home: Option<&str>) -> String {
    let expanded = match (raw.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => raw.to_string(),
    };
    let joined = dir.join(expanded);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

fn found(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => format!("the string `{s}`"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Float(_, raw) => format!("the number {raw}"),
        Value::Bool(b) => format!("the boolean {b}"),
        other => other.kind().to_string(),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds (negative durations refused).
pub fn parse_duration(s: &str) -> Option<u128> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let number: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[u..];
    }
    Some(total.round() as u128)
}

/// Go's `time.Duration.String()`.
pub fn format_duration(nanos: u128) -> String {
    fn frac(value: u128, unit: u128, digits: usize) -> String {
        let whole = value / unit;
        let rem = value % unit;
        if rem == 0 {
            return whole.to_string();
        }
        let f = format!("{rem:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", frac(nanos, 1_000, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 1_000_000, 6));
    }
    let secs = nanos / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    let s = frac(nanos % 60_000_000_000, 1_000_000_000, 9);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

/// A size with an optional binary unit (`b`, `k`/`kb`, `m`, `g`, `t`, `p`).
pub fn parse_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let n = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let number: f64 = t[..n].parse().ok()?;
    let unit = t[n..].trim_start();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return None,
    };
    Some((number * scale) as i64)
}

/// A YAML node as JSON, as it was written (for extensions and pass-through keys).
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f, raw) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(raw.clone())),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, _, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let round = |s: &str| parse_duration(s).map(format_duration);
        assert_eq!(round("90s").as_deref(), Some("1m30s"));
        assert_eq!(round("1h").as_deref(), Some("1h0m0s"));
        assert_eq!(round("1.5s").as_deref(), Some("1.5s"));
        assert_eq!(round("500ms").as_deref(), Some("500ms"));
        assert_eq!(round("2m").as_deref(), Some("2m0s"));
        assert_eq!(round("1m30").as_deref(), None);
        assert_eq!(round("ten").as_deref(), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m"), Some(536_870_912));
        assert_eq!(parse_bytes("1gb"), Some(1_073_741_824));
        assert_eq!(parse_bytes("2k"), Some(2048));
        assert_eq!(parse_bytes("lots"), None);
    }
}
