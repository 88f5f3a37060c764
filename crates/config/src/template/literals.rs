//! Hands a template's list and dict literals to the engine as calls that
//! build changeable objects (`mutable`): `[a, b]` becomes
//! ` __maestro_list([a, b])` and `{k: v}` becomes ` __maestro_dict([k, v])`.
//! Only templates that already parse are rewritten, so syntax errors are
//! reported on the text as written; the rewrite keeps every line break, and
//! `Rewritten::original_offset` turns an error's position back into one in
//! the text as written.
//!
//! The scan also finds `{% do %}`, which MaestroNG's Jinja2 (no `do`
//! extension) does not know, while minijinja does.

use minijinja::machinery::{parse, tokenize, Token};
use minijinja::syntax::SyntaxConfig;

/// Name of the function that builds a changeable list from a list.
pub(crate) const LIST_FN: &str = "__maestro_list";
/// Name of the function that builds a changeable dict from `[k, v, …]`.
pub(crate) const DICT_FN: &str = "__maestro_dict";

// The leading space keeps the call from joining a keyword before it
// (`x in[1]`).
const LIST_OPEN: &str = " __maestro_list([";
const DICT_OPEN: &str = " __maestro_dict([";

/// One replacement of `start..end` of the text as written.
#[derive(Debug, Clone)]
struct Edit {
    start: usize,
    end: usize,
    with: &'static str,
}

/// A template's text as handed to the engine.
#[derive(Debug, Clone)]
pub(crate) struct Rewritten {
    pub(crate) text: String,
    edits: Vec<Edit>,
}

/// What the scan of a template found.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// Give the engine this text.
    Text(Rewritten),
    /// A `{% do %}` tag at this byte offset of the text as written.
    DoTag(usize),
}

impl Rewritten {
    fn unchanged(text: &str) -> Rewritten {
        Rewritten {
            text: text.to_string(),
            edits: Vec::new(),
        }
    }

    /// `text` with `edits` (in order, not overlapping) made.
    fn apply(text: &str, edits: Vec<Edit>) -> Rewritten {
        let mut out = String::with_capacity(text.len() + edits.len() * LIST_OPEN.len());
        let mut at = 0;
        for e in &edits {
            out.push_str(&text[at..e.start]);
            out.push_str(e.with);
            at = e.end;
        }
        out.push_str(&text[at..]);
        Rewritten { text: out, edits }
    }

    /// The byte offset in the text as written of `offset` in `self.text`; an
    /// offset inside inserted text maps to where it was inserted.
    pub(crate) fn original_offset(&self, offset: usize) -> usize {
        let mut shift: isize = 0; // rewritten minus written, so far
        for e in &self.edits {
            let new_start = e.start.saturating_add_signed(shift);
            if offset < new_start {
                break;
            }
            if offset < new_start + e.with.len() {
                return e.start;
            }
            shift += e.with.len() as isize - (e.end - e.start) as isize;
        }
        offset.saturating_add_signed(-shift)
    }
}

/// What an open bracket of an expression is.
enum Group {
    Paren,
    /// A subscript `x[…]`, or a list literal (`true`) that is rewritten.
    Bracket(bool),
    Brace,
}

/// Scans `text`, named `name`: rewrites its literals, or reports a `do` tag.
pub(crate) fn scan(text: &str, name: &str) -> Scanned {
    let parsed = parse(text, name, SyntaxConfig::default());
    if let Some(at) = first_do_tag(text) {
        let line = text[..at].matches('\n').count() + 1;
        // Jinja2 reports the first error of the file.
        match &parsed {
            Err(e) if e.line().is_some_and(|l| l < line) => {}
            _ => return Scanned::DoTag(at),
        }
    }
    // A template that does not parse is handed over as written, for the
    // engine to report its error.
    if parsed.is_err() {
        return Scanned::Text(Rewritten::unchanged(text));
    }
    match literal_edits(text) {
        Some(edits) if !edits.is_empty() => Scanned::Text(Rewritten::apply(text, edits)),
        _ => Scanned::Text(Rewritten::unchanged(text)),
    }
}

/// The edits that turn the literals of `text` into calls; `None` when it
/// does not tokenize.
fn literal_edits(text: &str) -> Option<Vec<Edit>> {
    let mut scanner = Scanner::default();
    for token in tokenize(text, false, SyntaxConfig::default()) {
        let (token, span) = token.ok()?;
        scanner.token(token, span.start_offset as usize, span.end_offset as usize);
    }
    Some(scanner.edits)
}

/// Where the scan of the tokens is, and the edits found so far.
#[derive(Default)]
struct Scanner {
    edits: Vec<Edit>,
    groups: Vec<Group>,
    /// Whether the token before ends an operand (so `[` is a subscript).
    after_operand: bool,
    /// Whether the token before is the name of a `{% … %}` tag.
    at_tag_name: bool,
    tag_start: bool,
    /// Whether the token before is a `.` (so a keyword is an attribute name).
    after_dot: bool,
}

impl Scanner {
    /// Takes the next token, at `start..end` of the text as written.
    fn token(&mut self, token: Token, start: usize, end: usize) {
        let was_tag_start = std::mem::take(&mut self.tag_start);
        let was_tag_name = std::mem::take(&mut self.at_tag_name);
        let was_dot = std::mem::replace(&mut self.after_dot, matches!(token, Token::Dot));
        let mut operand = false;
        match token {
            Token::BlockStart => self.tag_start = true,
            Token::VariableStart | Token::VariableEnd | Token::BlockEnd => self.groups.clear(),
            Token::Ident(_) if was_tag_start => self.at_tag_name = true,
            Token::Ident(id) => {
                operand =
                    was_dot || !matches!(id, "and" | "or" | "not" | "in" | "is" | "if" | "else");
            }
            Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_) => operand = true,
            Token::ParenOpen => self.groups.push(Group::Paren),
            Token::ParenClose => {
                self.groups.pop();
                operand = true;
            }
            Token::BracketOpen => {
                let literal = was_tag_name || !self.after_operand;
                if literal {
                    self.edit(start, end, LIST_OPEN);
                }
                self.groups.push(Group::Bracket(literal));
            }
            Token::BracketClose => {
                if let Some(Group::Bracket(true)) = self.groups.pop() {
                    self.edit(start, end, "])");
                }
                operand = true;
            }
            Token::BraceOpen => {
                self.edit(start, end, DICT_OPEN);
                self.groups.push(Group::Brace);
            }
            Token::BraceClose => {
                if let Some(Group::Brace) = self.groups.pop() {
                    self.edit(start, end, "])");
                }
                operand = true;
            }
            Token::Colon if matches!(self.groups.last(), Some(Group::Brace)) => {
                self.edit(start, end, ",")
            }
            _ => {}
        }
        self.after_operand = operand;
    }

    fn edit(&mut self, start: usize, end: usize, with: &'static str) {
        self.edits.push(Edit { start, end, with });
    }
}

/// The byte offset of the first `do` tag's name, if any.
fn first_do_tag(text: &str) -> Option<usize> {
    let mut tag_start = false;
    for token in tokenize(text, false, SyntaxConfig::default()) {
        let (token, span) = token.ok()?;
        if tag_start && matches!(token, Token::Ident("do")) {
            return Some(span.start_offset as usize);
        }
        tag_start = matches!(token, Token::BlockStart);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(text: &str) -> String {
        match scan(text, "t") {
            Scanned::Text(r) => r.text,
            Scanned::DoTag(at) => format!("do at {at}"),
        }
    }

    #[test]
    fn literals_are_wrapped_and_subscripts_are_not() {
        assert_eq!(
            rewrite("{{ x[0] }}{{ [1, [2]][0] }}{{ 3 in[3] }}"),
            "{{ x[0] }}{{  __maestro_list([1,  __maestro_list([2])])[0] }}{{ 3 in __maestro_list([3]) }}"
        );
        assert_eq!(
            rewrite("{% set d = {'a': x[1:2], 'b': {}} %}{% include ['a'] %}"),
            "{% set d =  __maestro_dict(['a', x[1:2], 'b',  __maestro_dict([])]) %}{% include  __maestro_list(['a']) %}"
        );
        assert_eq!(
            rewrite("{{ '[{' }} [x] {% raw %}{{ [1] }}{% endraw %}"),
            "{{ '[{' }} [x] {% raw %}{{ [1] }}{% endraw %}"
        );
    }

    #[test]
    fn templates_that_do_not_parse_are_left_alone() {
        assert_eq!(rewrite("{{ [1 }}"), "{{ [1 }}");
    }

    #[test]
    fn do_tags_are_found() {
        assert_eq!(rewrite("a\n{%- do x.append(1) %}"), "do at 6");
        // Jinja2 knows no do tag, whatever follows it.
        assert_eq!(rewrite("{% do 1 %}"), "do at 3");
        // The first error of the file is reported.
        assert_eq!(rewrite("{{ ( }}\n{% do 1 %}"), "{{ ( }}\n{% do 1 %}");
        assert_eq!(
            rewrite("{{ do }}{% set do = 1 %}"),
            "{{ do }}{% set do = 1 %}"
        );
    }

    #[test]
    fn offsets_map_back() {
        let Scanned::Text(r) = scan("{{ [1] + x }}", "t") else {
            panic!("no do tag here");
        };
        let plus = r.text.find('+').expect("a plus");
        assert_eq!(r.original_offset(plus), 7);
        assert_eq!(r.original_offset(4), 3);
        assert_eq!(r.original_offset(0), 0);
    }
}
