//! Building the tree a maestro file would have been read into, every node
//! marked with the place in the Compose file it stands for (so that an
//! error the model's checks find points there). A leaf.

use serde_json::Value as Json;

use crate::error::Mark;
use crate::yaml::{Node, Value};

/// Makes nodes that all carry one mark.
#[derive(Debug, Clone, Copy)]
pub(super) struct At(pub Mark);

impl At {
    pub fn node(self, value: Value) -> Node {
        Node {
            value,
            mark: self.0,
        }
    }
    pub fn str(self, s: impl Into<String>) -> Node {
        self.node(Value::Str(s.into()))
    }
    pub fn int(self, i: i128) -> Node {
        self.node(Value::Int(i))
    }
    pub fn bool(self, b: bool) -> Node {
        self.node(Value::Bool(b))
    }
    pub fn seq(self, items: Vec<Node>) -> Node {
        self.node(Value::Seq(items))
    }
    pub fn strs<S: AsRef<str>>(self, items: impl IntoIterator<Item = S>) -> Node {
        self.seq(items.into_iter().map(|s| self.str(s.as_ref())).collect())
    }
    pub fn map<K: Into<String>>(self, entries: impl IntoIterator<Item = (K, Node)>) -> Node {
        self.node(Value::Map(
            entries.into_iter().map(|(k, v)| (self.str(k), v)).collect(),
        ))
    }
    /// A JSON value of the model, as the YAML reader would have given it.
    pub fn json(self, v: &Json) -> Node {
        match v {
            Json::Null => self.node(Value::Null),
            Json::Bool(b) => self.bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => self.int(i128::from(i)),
                None => match n.as_u64() {
                    Some(u) => self.int(i128::from(u)),
                    None => self.node(Value::Float(n.as_f64().unwrap_or(0.0))),
                },
            },
            Json::String(s) => self.str(s.as_str()),
            Json::Array(items) => self.seq(items.iter().map(|i| self.json(i)).collect()),
            Json::Object(m) => self.map(m.iter().map(|(k, v)| (k.as_str(), self.json(v)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_becomes_the_yaml_readers_values() {
        let at = At(Mark { line: 3, column: 5 });
        let n = at.json(&serde_json::json!({"a": [1, 2.5, "x", null, true]}));
        let Value::Map(entries) = &n.value else {
            panic!("a mapping")
        };
        assert_eq!(entries[0].0.as_str(), Some("a"));
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("a list")
        };
        assert_eq!(items[0].value, Value::Int(1));
        assert_eq!(items[1].value, Value::Float(2.5));
        assert_eq!(items[2].value, Value::Str("x".into()));
        assert_eq!(items[3].value, Value::Null);
        assert_eq!(items[4].value, Value::Bool(true));
        assert_eq!(items[4].mark, Mark { line: 3, column: 5 });
    }
}
