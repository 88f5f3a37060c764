//! YAML 1.1 as PyYAML reads it, into a tree that keeps the line and column of
//! every node.
//!
//! The event parser (saphyr-parser) does the syntax; this module does what
//! PyYAML's composer, resolver and safe constructor do on top of it: anchors and
//! aliases (with a bound on how far aliases may expand), merge keys `<<`,
//! duplicate keys as errors naming both places, and the YAML 1.1 implicit types
//! (`yes`/`no`/`on`/`off` booleans, sexagesimal and octal integers, floats that
//! need a dot, dates).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::error::{ConfigError, Mark};

/// Most nodes a document may expand to through aliases (billion-laughs guard).
pub const MAX_EXPANDED_NODES: usize = 1_000_000;
/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 256;

pub use crate::value::{Node, Value};

/// Python equality of mapping keys (`1 == True == 1.0`), used for duplicate keys.
fn same_key(a: &Value, b: &Value) -> bool {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Parses one YAML document. `file` names the source in error messages.
pub fn parse(text: &str, file: &str) -> Result<Node, ConfigError> {
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
                let mark = composer.mark(&span);
                if root.is_some() {
                    return Err(ConfigError::at(
                        file,
                        mark,
                        "found a second YAML document (`---`); expected a single document",
                    ));
                }
                let (event, span) = composer.next(&mut parser)?;
                root = Some(composer.node(&mut parser, event, span, 0)?);
            }
            other => {
                return Err(ConfigError::at(
                    file,
                    composer.mark(&span),
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        }
    }
    Ok(root.unwrap_or(Node {
        value: Value::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

struct Composer<'f> {
    file: &'f str,
    anchors: HashMap<usize, Node>,
    expanded: usize,
}

impl<'f> Composer<'f> {
    fn mark(&self, span: &Span) -> Mark {
        Mark {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }

    fn next<'i>(
        &self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
    ) -> Result<(Event<'i>, Span), ConfigError> {
        match parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(ConfigError::at(
                self.file,
                Mark {
                    line: e.marker().line(),
                    column: e.marker().col() + 1,
                },
                format!("invalid YAML: {}", e.info()),
            )),
            None => Err(ConfigError::at(
                self.file,
                Mark { line: 1, column: 1 },
                "invalid YAML: unexpected end of the stream",
            )),
        }
    }

    fn grow(&mut self, by: usize, mark: Mark) -> Result<(), ConfigError> {
        self.expanded += by;
        if self.expanded > MAX_EXPANDED_NODES {
            return Err(ConfigError::at(
                self.file,
                mark,
                format!(
                    "YAML aliases expand to more than {MAX_EXPANDED_NODES} values; \
                     expected a document of reasonable size (is this an alias bomb?)"
                ),
            ));
        }
        Ok(())
    }

    fn node<'i>(
        &mut self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        event: Event<'i>,
        span: Span,
        depth: usize,
    ) -> Result<Node, ConfigError> {
        let mark = self.mark(&span);
        if depth > MAX_DEPTH {
            return Err(ConfigError::at(
                self.file,
                mark,
                format!("YAML nesting deeper than {MAX_DEPTH} levels; expected a flatter document"),
            ));
        }
        self.grow(1, mark)?;
        let (node, anchor) = match event {
            Event::Alias(id) => {
                let target = self.anchors.get(&id).cloned().ok_or_else(|| {
                    ConfigError::at(self.file, mark, "found an alias to an unknown anchor")
                })?;
                self.grow(target.count(), mark)?;
                // An alias keeps the target's value but points at its own place.
                return Ok(Node {
                    value: target.value,
                    mark,
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = self.scalar(&text, style, tag.as_deref(), mark)?;
                (Node { value, mark }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "seq", mark)?;
                let value = self.sequence(parser, depth)?;
                (Node { value, mark }, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_deref(), "map", mark)?;
                let value = self.mapping(parser, depth)?;
                (Node { value, mark }, anchor)
            }
            other => {
                return Err(ConfigError::at(
                    self.file,
                    mark,
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// The items of a sequence, up to its end.
    fn sequence<'i>(
        &mut self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        depth: usize,
    ) -> Result<Value, ConfigError> {
        let mut items = Vec::new();
        loop {
            let (ev, sp) = self.next(parser)?;
            if matches!(ev, Event::SequenceEnd) {
                break;
            }
            items.push(self.node(parser, ev, sp, depth + 1)?);
        }
        Ok(Value::Seq(items))
    }

    /// The entries of a mapping, up to its end: merged keys (`<<`) first,
    /// explicit keys overriding them in place; a key twice is an error.
    fn mapping<'i>(
        &mut self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        depth: usize,
    ) -> Result<Value, ConfigError> {
        let mut explicit: Vec<(Node, Node)> = Vec::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut merge_key: Option<Mark> = None;
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
                if let Some(first) = merge_key {
                    return Err(self.duplicate("<<", first, key.mark));
                }
                merge_key = Some(key.mark);
                self.merge_into(&mut merged, value)?;
                continue;
            }
            if let Some((first, _)) = explicit
                .iter()
                .find(|(k, _)| same_key(&k.value, &key.value))
            {
                return Err(self.duplicate(
                    &crate::pyfmt::key_text(&key.value),
                    first.mark,
                    key.mark,
                ));
            }
            explicit.push((key, value));
        }
        if merged.is_empty() {
            // Nothing merged (the common case): the explicit keys, as written.
            return Ok(Value::Map(explicit));
        }
        // Merged keys come first; explicit keys override them in place.
        let mut entries = merged;
        for (k, v) in explicit {
            if let Some(slot) = entries
                .iter_mut()
                .find(|(mk, _)| same_key(&mk.value, &k.value))
            {
                *slot = (k, v);
            } else {
                entries.push((k, v));
            }
        }
        Ok(Value::Map(entries))
    }

    fn duplicate(&self, key: &str, first: Mark, second: Mark) -> ConfigError {
        ConfigError::at(
            self.file,
            second,
            format!(
                "duplicate key `{key}` (first defined at line {}, column {}); expected each key once per mapping",
                first.line, first.column
            ),
        )
    }

    /// Adds the entries of a merge value (a mapping or a list of mappings) to
    /// `merged`; earlier sources win over later ones, as in PyYAML.
    fn merge_into(&self, merged: &mut Vec<(Node, Node)>, value: Node) -> Result<(), ConfigError> {
        let sources = match value.value {
            Value::Map(_) => vec![value],
            Value::Seq(items) => items,
            other => {
                return Err(ConfigError::at(
                    self.file,
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
                return Err(ConfigError::at(
                    self.file,
                    source.mark,
                    format!(
                        "merge key `<<` needs a mapping or a list of mappings, found {} in the list",
                        source.value.kind()
                    ),
                ));
            };
            for (k, v) in entries {
                if !merged.iter().any(|(mk, _)| same_key(&mk.value, &k.value)) {
                    merged.push((k, v));
                }
            }
        }
        Ok(())
    }

    fn check_collection_tag(
        &self,
        tag: Option<&Tag>,
        expected: &str,
        mark: Mark,
    ) -> Result<(), ConfigError> {
        match tag {
            None => Ok(()),
            Some(t) if core_suffix(t) == Some(expected) => Ok(()),
            Some(t) => Err(self.unknown_tag(t, mark)),
        }
    }

    fn unknown_tag(&self, tag: &Tag, mark: Mark) -> ConfigError {
        ConfigError::at(
            self.file,
            mark,
            format!(
                "unsupported YAML tag `{}{}`; expected plain values (or !!str, !!int, !!float, !!bool, !!null)",
                tag.handle, tag.suffix
            ),
        )
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        mark: Mark,
    ) -> Result<Value, ConfigError> {
        if let Some(tag) = tag {
            let bad = || {
                ConfigError::at(
                    self.file,
                    mark,
                    format!(
                        "`{text}` is not a valid value for tag `{}{}`",
                        tag.handle, tag.suffix
                    ),
                )
            };
            return match core_suffix(tag) {
                Some("str") => Ok(Value::Str(text.to_string())),
                Some("int") => resolve_int(text).map(Value::Int).ok_or_else(bad),
                Some("float") => resolve_float(text)
                    .or_else(|| resolve_int(text).map(|i| i as f64))
                    .map(Value::Float)
                    .ok_or_else(bad),
                Some("bool") => resolve_bool(text).map(Value::Bool).ok_or_else(bad),
                Some("null") => Ok(Value::Null),
                _ => Err(self.unknown_tag(tag, mark)),
            };
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::Str(text.to_string()));
        }
        Ok(resolve_plain(text))
    }
}

fn core_suffix(tag: &Tag) -> Option<&str> {
    (tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!").then_some(tag.suffix.as_str())
}

/// PyYAML's implicit resolution of an unquoted scalar.
pub fn resolve_plain(text: &str) -> Value {
    // PyYAML's implicit resolvers are chosen by the first character: a plain
    // scalar starting with anything else is a string.
    match text.as_bytes().first() {
        None => return Value::Null,
        Some(b) if !b"yYnNtTfFoO-+0123456789.~".contains(b) => return Value::Str(text.to_string()),
        _ => {}
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = resolve_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = resolve_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = resolve_float(text) {
        return Value::Float(f);
    }
    if let Some(d) = resolve_timestamp(text) {
        return Value::Date(d);
    }
    Value::Str(text.to_string())
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn all(s: &str, f: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(f)
}

/// YAML 1.1 integers: `0b1_0`, `017` (octal), `1_000`, `0x1F`, `1:30` (base 60).
fn resolve_int(text: &str) -> Option<i128> {
    let (negative, body) = split_sign(text);
    let digits = |s: &str| s.replace('_', "");
    let magnitude: i128 = if let Some(bin) = body.strip_prefix("0b") {
        if !all(bin, |c| c == b'0' || c == b'1' || c == b'_') {
            return None;
        }
        let d = digits(bin);
        if d.is_empty() {
            0
        } else {
            i128::from_str_radix(&d, 2).ok()?
        }
    } else if let Some(hex) = body.strip_prefix("0x") {
        if !all(hex, |c| c.is_ascii_hexdigit() || c == b'_') {
            return None;
        }
        let d = digits(hex);
        if d.is_empty() {
            0
        } else {
            i128::from_str_radix(&d, 16).ok()?
        }
    } else if body == "0" {
        0
    } else if let Some(oct) = body.strip_prefix('0') {
        if !all(oct, |c| (b'0'..=b'7').contains(&c) || c == b'_') {
            return None;
        }
        let d = digits(oct);
        if d.is_empty() {
            0
        } else {
            i128::from_str_radix(&d, 8).ok()?
        }
    } else if body.contains(':') {
        sexagesimal_int(body)?
    } else {
        if !body
            .as_bytes()
            .first()
            .is_some_and(|c| (b'1'..=b'9').contains(c))
            || !all(body, |c| c.is_ascii_digit() || c == b'_')
        {
            return None;
        }
        digits(body).parse().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `[1-9][0-9_]*(:[0-5]?[0-9])+`
fn sexagesimal_int(body: &str) -> Option<i128> {
    let mut parts = body.split(':');
    let head = parts.next()?;
    if !head
        .as_bytes()
        .first()
        .is_some_and(|c| (b'1'..=b'9').contains(c))
        || !all(head, |c| c.is_ascii_digit() || c == b'_')
    {
        return None;
    }
    let mut value: i128 = head.replace('_', "").parse().ok()?;
    for part in parts {
        value = value
            .checked_mul(60)?
            .checked_add(base60_digit(part)? as i128)?;
    }
    Some(value)
}

/// `[0-5]?[0-9]`
fn base60_digit(part: &str) -> Option<u32> {
    let b = part.as_bytes();
    let ok = match b.len() {
        1 => b[0].is_ascii_digit(),
        2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
        _ => false,
    };
    if ok {
        part.parse().ok()
    } else {
        None
    }
}

/// YAML 1.1 floats as PyYAML resolves them (a dot is required; `1e3` is a string).
fn resolve_float(text: &str) -> Option<f64> {
    let (negative, body) = split_sign(text);
    let sign = if negative { -1.0 } else { 1.0 };
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if text == body => return Some(f64::NAN),
        _ => {}
    }
    if body.contains(':') {
        // [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
        let (int_part, frac) = body.split_once('.')?;
        if !frac.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
            return None;
        }
        let mut parts = int_part.split(':');
        let head = parts.next()?;
        if !head.as_bytes().first().is_some_and(u8::is_ascii_digit)
            || !all(head, |c| c.is_ascii_digit() || c == b'_')
        {
            return None;
        }
        let mut value: f64 = head.replace('_', "").parse().ok()?;
        let mut any = false;
        for part in parts {
            value = value * 60.0 + base60_digit(part)? as f64;
            any = true;
        }
        if !any {
            return None;
        }
        let frac_value: f64 = format!("0.{}", frac.replace('_', ""))
            .parse()
            .unwrap_or(0.0);
        return Some(sign * (value + frac_value));
    }
    // [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?  |  \.[0-9][0-9_]*([eE][-+][0-9]+)?
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(exp) = exponent {
        let b = exp.as_bytes();
        if b.len() < 2 || !(b[0] == b'-' || b[0] == b'+') || !all(&exp[1..], |c| c.is_ascii_digit())
        {
            return None;
        }
    }
    let (int_part, frac) = mantissa.split_once('.')?;
    let int_ok = if int_part.is_empty() {
        text == body && frac.as_bytes().first().is_some_and(u8::is_ascii_digit)
    } else {
        int_part.as_bytes()[0].is_ascii_digit()
            && int_part.bytes().all(|c| c.is_ascii_digit() || c == b'_')
    };
    if !int_ok || !frac.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
        return None;
    }
    let cleaned = format!(
        "{}{}.{}{}",
        if negative { "-" } else { "" },
        if int_part.is_empty() { "0" } else { int_part },
        frac,
        exponent.map(|e| format!("e{e}")).unwrap_or_default()
    )
    .replace('_', "");
    let cleaned = cleaned.replace(".e", ".0e");
    let cleaned = if cleaned.ends_with('.') {
        format!("{cleaned}0")
    } else {
        cleaned
    };
    cleaned.parse().ok()
}

/// YAML 1.1 timestamps, rendered as Python's `str()` of the date or
/// datetime PyYAML builds (`2001-12-14 21:59:43.100000-05:00`).
fn resolve_timestamp(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let is_date_only = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if is_date_only {
        let (y, m, d) = (
            digits(&text[..4], 4, 4)?,
            digits(&text[5..7], 2, 2)?,
            digits(&text[8..10], 2, 2)?,
        );
        return valid_date(y, m, d).then(|| text.to_string());
    }
    // YYYY-M-D(T| )H:MM:SS[.f][ ][Z|±H[:MM]]
    let split = text.find(['T', 't', ' ', '\t'])?;
    let (date, rest) = text.split_at(split);
    let rest = rest[1..].trim_start_matches([' ', '\t']);
    let mut dp = date.split('-');
    let (y, m, d) = (
        digits(dp.next()?, 4, 4)?,
        digits(dp.next()?, 1, 2)?,
        digits(dp.next()?, 1, 2)?,
    );
    if dp.next().is_some() || !valid_date(y, m, d) {
        return None;
    }
    let time_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(time_end);
    let (h, mi, sec, micros) = time_of_day(time)?;
    let tz = zone_offset(zone.trim_start_matches([' ', '\t']))?;
    let mut out = format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{sec:02}");
    if let Some(us) = micros.filter(|us| *us > 0) {
        out.push_str(&format!(".{us:06}"));
    }
    if let Some(tz) = tz {
        out.push_str(&tz);
    }
    Some(out)
}

/// `s` as a number, when it is `min` to `max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    (s.len() >= min && s.len() <= max && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())?
}

/// `H:MM:SS[.f]`: hours, minutes, seconds and microseconds (when a
/// fraction is written).
fn time_of_day(time: &str) -> Option<(u32, u32, u32, Option<u32>)> {
    let (hms, fraction) = match time.split_once('.') {
        Some((hms, f)) if f.bytes().all(|c| c.is_ascii_digit()) => (hms, Some(f)),
        Some(_) => return None,
        None => (time, None),
    };
    let mut tp = hms.split(':');
    let (h, mi, sec) = (
        digits(tp.next()?, 1, 2)?,
        digits(tp.next()?, 2, 2)?,
        digits(tp.next()?, 2, 2)?,
    );
    if tp.next().is_some() || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let micros = fraction.filter(|f| !f.is_empty()).map(|f| {
        let mut f: String = f.chars().take(6).collect();
        while f.len() < 6 {
            f.push('0');
        }
        f.parse::<u32>().unwrap_or(0)
    });
    Some((h, mi, sec, micros))
}

/// A time zone (`Z`, `±H[:MM]`) as Python prints its offset (`+05:00`);
/// `Some(None)` for none written, `None` when it is not one.
fn zone_offset(zone: &str) -> Option<Option<String>> {
    match zone {
        "" => Some(None),
        "Z" => Some(Some("+00:00".to_string())),
        z => {
            // Not `split_at(1)`: the character after a time may be any (é).
            let (sign, body) = match z.strip_prefix('+') {
                Some(body) => ("+", body),
                None => ("-", z.strip_prefix('-')?),
            };
            let (zh, zm) = match body.split_once(':') {
                Some((zh, zm)) => (digits(zh, 1, 2)?, digits(zm, 2, 2)?),
                None => (digits(body, 1, 2)?, 0),
            };
            let sign = if (zh, zm) == (0, 0) { "+" } else { sign };
            Some(Some(format!("{sign}{zh:02}:{zm:02}")))
        }
    }
}

fn valid_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1 && d >= 1 && d <= days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        resolve_plain(text)
    }

    #[test]
    fn yaml11_booleans_are_the_pyyaml_spellings() {
        for t in ["yes", "Yes", "YES", "on", "On", "true", "TRUE"] {
            assert_eq!(v(t), Value::Bool(true), "{t}");
        }
        for t in ["no", "NO", "off", "Off", "false", "False"] {
            assert_eq!(v(t), Value::Bool(false), "{t}");
        }
        assert_eq!(v("yEs"), Value::Str("yEs".into()));
        assert_eq!(v("y"), Value::Str("y".into()));
    }

    #[test]
    fn yaml11_integers() {
        assert_eq!(v("22:22"), Value::Int(1342));
        assert_eq!(v("190:20:30"), Value::Int(685230));
        assert_eq!(v("80:80"), Value::Str("80:80".into()));
        assert_eq!(v("0755"), Value::Int(493));
        assert_eq!(v("0x1F"), Value::Int(31));
        assert_eq!(v("0b101"), Value::Int(5));
        assert_eq!(v("1_000"), Value::Int(1000));
        assert_eq!(v("-42"), Value::Int(-42));
        assert_eq!(v("089"), Value::Str("089".into()));
    }

    #[test]
    fn yaml11_floats_need_a_dot() {
        assert_eq!(v("1.5"), Value::Float(1.5));
        assert_eq!(v("1e3"), Value::Str("1e3".into()));
        assert_eq!(v("1.0e+3"), Value::Float(1000.0));
        assert_eq!(v("1."), Value::Float(1.0));
        assert_eq!(v(".5"), Value::Float(0.5));
        assert_eq!(v("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(v("1:30.5"), Value::Float(90.5));
        assert_eq!(v("1.2.3"), Value::Str("1.2.3".into()));
    }

    #[test]
    fn a_time_followed_by_a_non_ascii_character_is_a_string_not_a_panic() {
        assert_eq!(
            v("2001-12-14 21:59:43é"),
            Value::Str("2001-12-14 21:59:43é".into())
        );
        assert_eq!(
            v("2001-12-14 21:59:43-05"),
            Value::Date("2001-12-14 21:59:43-05:00".into())
        );
    }

    #[test]
    fn nulls_and_dates() {
        assert_eq!(v("~"), Value::Null);
        assert_eq!(v(""), Value::Null);
        assert_eq!(v("2024-02-03"), Value::Date("2024-02-03".into()));
        assert_eq!(
            v("2001-12-14t21:59:43.10-05:00"),
            Value::Date("2001-12-14 21:59:43.100000-05:00".into())
        );
        assert_eq!(
            v("2001-12-14 21:59:43"),
            Value::Date("2001-12-14 21:59:43".into())
        );
        assert_eq!(
            v("2001-1-2T3:04:05Z"),
            Value::Date("2001-01-02 03:04:05+00:00".into())
        );
        assert_eq!(v("2001-02-30"), Value::Str("2001-02-30".into()));
    }

    #[test]
    fn merge_keys_and_overrides() {
        let doc = parse("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n", "t.yaml").unwrap();
        let x = doc.get("x").unwrap();
        let keys: Vec<_> = x
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().to_string(), v.value.clone()))
            .collect();
        assert_eq!(
            keys,
            vec![("a".into(), Value::Int(1)), ("b".into(), Value::Int(3))]
        );
    }

    #[test]
    fn duplicate_keys_name_both_places() {
        let err = parse("a: 1\nb: 2\na: 3\n", "t.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.yaml:3:1: duplicate key `a` (first defined at line 1, column 1); expected each key once per mapping"
        );
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            doc.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 9].join(", ")));
        }
        let err = parse(&doc, "t.yaml").unwrap_err();
        assert!(err.to_string().contains("alias bomb"), "{err}");
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let doc = parse("a: 'yes'\nb: \"22:22\"\n", "t.yaml").unwrap();
        assert_eq!(doc.get("a").unwrap().value, Value::Str("yes".into()));
        assert_eq!(doc.get("b").unwrap().value, Value::Str("22:22".into()));
    }
}
