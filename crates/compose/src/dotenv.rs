//! `.env` and `env_file` files: `KEY=value` lines, `export KEY=value`,
//! `#` comments, single-quoted values taken literally, double-quoted values
//! with `\n`-style escapes, and variable substitution in unquoted and
//! double-quoted values (from earlier lines, then from `lookup`).

use crate::error::{ComposeError, Loc, Mark};
use crate::interpolate::substitute;

/// The entries of an env file in order; `KEY` alone (no `=`) has no value.
pub fn parse(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, ComposeError> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let mark = Mark {
            line: i + 1,
            column: 1,
        };
        let err = |m: String| ComposeError::at(Loc::new(file, mark, ""), m);
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (line.trim(), None),
        };
        if key.is_empty()
            || key
                .chars()
                .any(|c| c.is_whitespace() || c == '$' || c == '\'' || c == '"')
        {
            return Err(err(format!("`{}` is not a `KEY=value` line", raw.trim())));
        }
        let Some(value) = value else {
            out.push((key.to_string(), None));
            continue;
        };
        let value = value.trim_start();
        let known = out.clone();
        // The environment first, then the file's earlier lines, as Compose v2.
        let scoped = |n: &str| {
            lookup(n).or_else(|| {
                known
                    .iter()
                    .rev()
                    .find(|(k, _)| k == n)
                    .and_then(|(_, v)| v.clone())
            })
        };
        let expand =
            |v: &str| substitute(v, &scoped, &mut Vec::new()).map_err(|e| err(e.to_string()));
        let parsed = if let Some(body) = value.strip_prefix('\'') {
            let (body, _) = closing(body, '\'', &mut lines)
                .ok_or_else(|| err(format!("the value of {key} has no closing `'`")))?;
            body
        } else if let Some(body) = value.strip_prefix('"') {
            let (body, _) = closing(body, '"', &mut lines)
                .ok_or_else(|| err(format!("the value of {key} has no closing `\"`")))?;
            expand(&unescape(&body))?
        } else {
            let bare = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(i) => &value[..i],
                None => value,
            };
            expand(bare.trim_end())?
        };
        out.push((key.to_string(), Some(parsed)));
    }
    Ok(out)
}

/// The text up to the closing `quote`, across lines when needed.
fn closing<'a>(
    first: &str,
    quote: char,
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
) -> Option<(String, ())> {
    let mut body = String::new();
    let mut current = first.to_string();
    loop {
        let mut escaped = false;
        for (i, c) in current.char_indices() {
            if quote == '"' && c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            if c == quote && !escaped {
                body.push_str(&current[..i]);
                return Some((body, ()));
            }
            escaped = false;
        }
        body.push_str(&current);
        body.push('\n');
        current = lines.next()?.1.to_string();
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let text =
            "# c\nA=1\nexport B = two # note\nC='$A lit'\nD=\"x${A}\\ty\"\nE\nF=${B}-${OUT}\n";
        let got = parse(text, ".env", &|n| (n == "OUT").then(|| "o".to_string())).unwrap();
        let want: Vec<(String, Option<String>)> = vec![
            ("A".into(), Some("1".into())),
            ("B".into(), Some("two".into())),
            ("C".into(), Some("$A lit".into())),
            ("D".into(), Some("x1\ty".into())),
            ("E".into(), None),
            ("F".into(), Some("two-o".into())),
        ];
        assert_eq!(got, want);
    }
}
