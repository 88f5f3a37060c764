//! Reading a number the way Python's `int(text)` does, since MaestroNG's
//! functions turn port variables into numbers with it.

/// Python's `int(text)` in base 10, within `i64`: surrounding whitespace is
/// ignored, one optional sign, ASCII digits with single `_` between digits
/// (`1_000`), leading zeros allowed. `None` when Python would raise (or, for
/// numbers beyond `i64`, where Python would not).
pub fn parse_python_int(text: &str) -> Option<i64> {
    let text = text.trim_matches(is_python_space);
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut value: i64 = 0;
    let mut previous_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if previous_underscore {
                return None;
            }
            previous_underscore = true;
            continue;
        }
        previous_underscore = false;
        let digit = c.to_digit(10)? as i64;
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(digit)?
        } else {
            value.checked_add(digit)?
        };
    }
    Some(value)
}

/// Python's `str.isspace()` for one character: Unicode white space plus the
/// ASCII separators `\x1c`–`\x1f`.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::parse_python_int as p;

    #[test]
    fn like_python_int() {
        assert_eq!(p("2181"), Some(2181));
        assert_eq!(p(" 80\n"), Some(80));
        assert_eq!(p("+7"), Some(7));
        assert_eq!(p("-7"), Some(-7));
        assert_eq!(p("007"), Some(7));
        assert_eq!(p("1_000"), Some(1000));
        assert_eq!(p("\u{a0}9\u{1f}"), Some(9));
        assert_eq!(p("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            " ",
            "1234-1236",
            "1__0",
            "_1",
            "1_",
            "+",
            "--1",
            "0x10",
            "1.5",
            "8 0",
            "9223372036854775808",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
    }
}
