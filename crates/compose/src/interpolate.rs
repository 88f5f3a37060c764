//! Variable substitution in string values: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `$$` for a literal `$`; defaults and alternatives are
//! substituted in turn, so they nest.

use crate::error::{ComposeError, Loc};
use crate::yaml::{Node, Value};

/// Why a string could not be substituted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolationError {
    #[error("required variable {name} is missing a value: {message}")]
    Required { name: String, message: String },
    #[error("required variable {name} is missing a value")]
    RequiredNoMessage { name: String },
    #[error("invalid interpolation in `{text}`: {why}; write `$$` for a literal dollar sign")]
    Invalid { text: String, why: &'static str },
}

/// Substitutes the variables of `text`; `lookup` gives a variable's value,
/// `unset` collects the names used without a value and without a default.
pub fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let invalid = |why| InterpolationError::Invalid {
        text: text.to_string(),
        why,
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(inner_start) = after.strip_prefix('{') {
            let end =
                closing_brace(inner_start).ok_or_else(|| invalid("`${` is not closed by `}`"))?;
            let inner = &inner_start[..end];
            out.push_str(&braced(inner, lookup, unset).map_err(|e| match e {
                InterpolationError::Invalid { why, .. } => invalid(why),
                other => other,
            })?);
            rest = &inner_start[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                return Err(invalid(
                    "`$` is followed by neither a variable name nor `{`",
                ));
            }
            out.push_str(&value_of(&after[..n], lookup, unset));
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Length of the variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

/// Index of the `}` closing a `${`, nested `${…}` skipped.
fn closing_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn value_of(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> String {
    lookup(name).unwrap_or_else(|| {
        if !unset.iter().any(|u| u == name) {
            unset.push(name.to_string());
        }
        String::new()
    })
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolationError> {
    let invalid = |why| InterpolationError::Invalid {
        text: String::new(),
        why,
    };
    let n = name_len(inner);
    if n == 0 {
        return Err(invalid("`${` is not followed by a variable name"));
    }
    let name = &inner[..n];
    let op = &inner[n..];
    let value = lookup(name);
    let empty = value.as_deref().is_none_or(str::is_empty);
    let (operator, arg) = [":-", ":?", ":+", "-", "?", "+"]
        .iter()
        .find_map(|o| op.strip_prefix(o).map(|a| (*o, a)))
        .unwrap_or(("", op));
    match operator {
        "" if arg.is_empty() => Ok(value_of(name, lookup, unset)),
        "" => Err(invalid("a variable name is followed by something other than `:-`, `-`, `:?`, `?`, `:+`, `+` or `}`")),
        ":-" if empty => substitute(arg, lookup, unset),
        "-" if value.is_none() => substitute(arg, lookup, unset),
        ":-" | "-" => Ok(value.unwrap_or_default()),
        ":?" | "?" if (operator == ":?" && empty) || value.is_none() => {
            let message = substitute(arg, lookup, unset)?;
            Err(if message.is_empty() {
                InterpolationError::RequiredNoMessage { name: name.to_string() }
            } else {
                InterpolationError::Required { name: name.to_string(), message }
            })
        }
        ":?" | "?" => Ok(value.unwrap_or_default()),
        ":+" if !empty => substitute(arg, lookup, unset),
        "+" if value.is_some() => substitute(arg, lookup, unset),
        _ => Ok(String::new()),
    }
}

/// Substitutes every string value of `node` (keys are left as written).
pub fn interpolate_node(
    node: &mut Node,
    file: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<(String, Loc)>,
) -> Result<(), ComposeError> {
    match &mut node.value {
        Value::Str(s) if s.contains('$') => {
            let mut names = Vec::new();
            let out = substitute(s, lookup, &mut names)
                .map_err(|e| ComposeError::at(Loc::new(file, node.mark, path), e.to_string()))?;
            for n in names {
                unset.push((n, Loc::new(file, node.mark, path)));
            }
            *s = out;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_node(item, file, &format!("{path}[{i}]"), lookup, unset)?;
            }
        }
        Value::Map(entries) => {
            for (k, _, v) in entries.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}/{k}")
                };
                interpolate_node(v, file, &p, lookup, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str) -> Result<String, InterpolationError> {
        let lookup = |n: &str| match n {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        substitute(text, &lookup, &mut Vec::new())
    }

    #[test]
    fn forms() {
        assert_eq!(sub("$SET ${SET}").unwrap(), "value value");
        assert_eq!(sub("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}").unwrap(), "d  d");
        assert_eq!(sub("${EMPTY:+a}|${EMPTY+a}|${UNSET+a}").unwrap(), "|a|");
        assert_eq!(sub("${UNSET:-${SET}x}").unwrap(), "valuex");
        assert_eq!(sub("${UNSET:-${ALSO:-deep}}").unwrap(), "deep");
        assert_eq!(sub("$$SET $${SET}").unwrap(), "$SET ${SET}");
        assert_eq!(sub("${EMPTY?m}").unwrap(), "");
        assert!(matches!(
            sub("${EMPTY:?m}"),
            Err(InterpolationError::Required { .. })
        ));
        assert!(matches!(
            sub("${SET"),
            Err(InterpolationError::Invalid { .. })
        ));
        assert!(matches!(sub("$1"), Err(InterpolationError::Invalid { .. })));
        assert!(matches!(
            sub("${SET!}"),
            Err(InterpolationError::Invalid { .. })
        ));
    }
}
