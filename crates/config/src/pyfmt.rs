//! Values rendered as Python renders them, because images built for MaestroNG
//! read environment variables that Python's `str()` wrote (`True`, `1.5`).

use crate::value::{Node, Value};

/// Python's `str()` of a YAML value; lists nested in lists are flattened and
/// joined with single spaces, as MaestroNG does for environment values.
pub fn env_string(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Seq(items) => Some(flatten(items)),
        other => Some(str_of(other)),
    }
}

fn flatten(items: &[Node]) -> String {
    items
        .iter()
        .map(|n| match &n.value {
            Value::Seq(inner) => flatten(inner),
            other => str_of(other),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python `str()`.
pub fn str_of(value: &Value) -> String {
    match value {
        Value::Str(s) | Value::Date(s) => s.clone(),
        other => repr(other),
    }
}

/// Python `repr()`.
pub fn repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => float_repr(*f),
        Value::Str(s) => str_repr(s),
        Value::Date(d) => format!(
            "datetime.date({})",
            d.split('-')
                .map(|p| p.trim_start_matches('0'))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|n| repr(&n.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(&k.value), repr(&v.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A mapping key as text (Python `str()` of it), for names and messages.
pub fn key_text(value: &Value) -> String {
    str_of(value)
}

fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for
/// exponents from -4 to 15, scientific (`1e+16`) outside.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let text = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{text}")
    } else {
        let mant = if digits.len() == 1 {
            digits.clone()
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        format!(
            "{sign}{mant}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::resolve_plain;

    #[test]
    fn floats_like_python() {
        for (f, s) in [
            (1.5, "1.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1.5e20, "1.5e+20"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789.125, "123456789.125"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(float_repr(f), s);
        }
    }

    #[test]
    fn env_values_like_python() {
        assert_eq!(env_string(&resolve_plain("yes")).as_deref(), Some("True"));
        assert_eq!(env_string(&resolve_plain("off")).as_deref(), Some("False"));
        assert_eq!(env_string(&resolve_plain("0x10")).as_deref(), Some("16"));
        assert_eq!(env_string(&resolve_plain("~")), None);
        let doc = crate::yaml::parse("[a, [b, c], d]", "t").unwrap();
        assert_eq!(env_string(&doc.value).as_deref(), Some("a b c d"));
        let doc = crate::yaml::parse("{a: 1, b: 'x'}", "t").unwrap();
        assert_eq!(
            env_string(&doc.value).as_deref(),
            Some("{'a': 1, 'b': 'x'}")
        );
    }
}
