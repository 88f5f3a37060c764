//! The first loading step: the environment file is a Jinja2 template whose one
//! variable is `env`, the process environment. `include`/`import` resolve
//! relative to the environment file's directory, as MaestroNG's loader did.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use minijinja::value::ValueKind;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, Value};

use crate::error::{ConfigError, Mark};

mod literals;
mod mutable;

use literals::{Rewritten, Scanned};

/// Upper bound on template work, so a hostile template cannot spin forever:
/// about a second of rendering in a release build (a template that only
/// spins is stopped after 1.04 s); a 5,000-instance file written as a loop
/// renders well within it.
const TEMPLATE_FUEL: u64 = 50_000_000;

/// Renders `text` (named `name` in messages) with `env` as its context.
pub fn render(
    text: &str,
    name: &str,
    base_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<String, ConfigError> {
    // Most environment files are plain YAML: no template syntax, nothing to do.
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Ok(text.to_string());
    }
    let main = match literals::scan(text, name) {
        Scanned::DoTag(at) => return Err(do_error(name, text, at)),
        Scanned::Text(main) => main,
    };
    let main_text = main.text.clone();
    let sources = Arc::new(Mutex::new(Sources::default()));
    lock(&sources).rewritten.insert(name.to_string(), main);
    let mut jinja = Environment::new();
    jinja.set_loader(capped_loader(base_dir.to_owned(), sources.clone()));
    jinja.set_auto_escape_callback(|_| AutoEscape::None);
    jinja.set_unknown_method_callback(methods);
    jinja.set_fuel(Some(TEMPLATE_FUEL));
    // Lists and dicts the template can change in place (see `mutable`).
    jinja.add_function(literals::LIST_FN, mutable::list_literal);
    jinja.add_function(literals::DICT_FN, mutable::dict_literal);
    jinja.add_function("dict", mutable::dict_function);
    jinja.add_filter("list", mutable::list_filter);
    jinja.add_filter("sort", mutable::sort_filter);
    let context = minijinja::context! { env => Value::from(env.clone()) };
    jinja
        .render_named_str(name, &main_text, context)
        .map_err(|e| {
            let mut sources = lock(&sources);
            match sources.early.take() {
                Some(early) => early,
                None => template_error(&e, name, base_dir, &sources.rewritten),
            }
        })
}

/// What the loader learned about the templates it handed to the engine.
#[derive(Default)]
struct Sources {
    /// Each template as handed over, by name, to place errors in the text
    /// as written.
    rewritten: BTreeMap<String, Rewritten>,
    /// An error found before the engine saw an included template.
    early: Option<ConfigError>,
}

fn lock(sources: &Mutex<Sources>) -> MutexGuard<'_, Sources> {
    sources.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `{% do %}` is not a tag of MaestroNG's Jinja2 (it has no `do` extension):
/// refuse it as an unknown tag, where it is.
fn do_error(file: &str, text: &str, at: usize) -> ConfigError {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    ConfigError::at(
        file,
        Mark { line, column },
        "template error: unknown statement do (syntax error); MaestroNG's Jinja2 has no do tag, \
         so write {% set _ = x.append(...) %} instead"
            .to_string(),
    )
}

/// Python's methods of strings, lists and dicts (minijinja-contrib's), with
/// `str.split()` giving a changeable list, and a clear error for changing a
/// list or dict that cannot be changed.
fn methods(
    state: &mut State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let result = minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args);
    match result {
        Ok(list)
            if value.kind() == ValueKind::String && matches!(method, "split" | "splitlines") =>
        {
            mutable::list_literal(list)
        }
        Err(e) if e.kind() == ErrorKind::UnknownMethod && mutable::MUTATORS.contains(&method) => {
            let message = match value.kind() {
                ValueKind::Seq if value.is_tuple() => format!(
                    "a tuple has no method {method}: tuples cannot be changed; \
                     make a list of it with |list"
                ),
                ValueKind::Seq | ValueKind::Iterable => format!(
                    "this list cannot be changed with {method}: only lists written as [...] in \
                     the template or made by |list, |sort or .split() can; \
                     make a changeable copy with |list first"
                ),
                ValueKind::Map => format!(
                    "this dict cannot be changed with {method}: only dicts written as {{...}} in \
                     the template or made by dict() can; make a changeable copy with dict(...) first"
                ),
                _ => return Err(e),
            };
            Err(Error::new(ErrorKind::InvalidOperation, message))
        }
        other => other,
    }
}

/// Most bytes an included template may have.
const MAX_INCLUDE_BYTES: u64 = crate::MAX_FILE_BYTES as u64;

/// Included templates, relative to `base`, read with a cap (a device or an
/// endless pipe is refused once the cap is passed, not read forever).
/// Names with `..` or `\\` are not found, as with minijinja's own loader.
fn capped_loader(
    base: std::path::PathBuf,
    sources: Arc<Mutex<Sources>>,
) -> impl Fn(&str) -> Result<Option<String>, minijinja::Error> + Send + Sync + 'static {
    move |name: &str| {
        let Some(text) = read_included(&base, name)? else {
            return Ok(None);
        };
        match literals::scan(&text, name) {
            Scanned::DoTag(at) => {
                let file = base.join(name).display().to_string();
                lock(&sources).early = Some(do_error(&file, &text, at));
                Err(minijinja::Error::new(
                    ErrorKind::SyntaxError,
                    "unknown statement do",
                ))
            }
            Scanned::Text(rewritten) => {
                let handed = rewritten.text.clone();
                lock(&sources).rewritten.insert(name.to_string(), rewritten);
                Ok(Some(handed))
            }
        }
    }
}

/// Reads the included template `name` below `base`.
fn read_included(base: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    let mut path = base.to_path_buf();
    for segment in name.split('/') {
        if segment.is_empty() || segment == "." {
            continue;
        }
        if segment == ".." || segment.contains('\\') {
            return Ok(None);
        }
        path.push(segment);
    }
    if path.is_dir() {
        return Ok(None);
    }
    match crate::read_capped(&path, MAX_INCLUDE_BYTES) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("the included file {name} is not UTF-8 text"),
            )
        }),
        Err(crate::Capped::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(crate::Capped::Io(e)) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("cannot read the included file {name}: {e}"),
        )),
        Err(crate::Capped::TooLarge) => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!(
                "the included file {name} is larger than {} MiB",
                MAX_INCLUDE_BYTES / 1024 / 1024
            ),
        )),
    }
}

fn template_error(
    e: &minijinja::Error,
    name: &str,
    base_dir: &Path,
    rewritten: &BTreeMap<String, Rewritten>,
) -> ConfigError {
    // An error inside an included template is wrapped: report the inner one,
    // which knows the included file, line and cause.
    let mut e = e;
    while let Some(inner) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        e = inner;
    }
    let mut message = format!("template error: {}", e.detail().unwrap_or("").trim());
    if e.detail().is_none() {
        message = format!("template error: {}", e.kind());
    } else {
        message = format!("{message} ({})", e.kind());
    }
    let file = match e.name() {
        Some(n) if n != name => base_dir.join(n).display().to_string(),
        _ => name.to_string(),
    };
    let column = match (e.range(), e.template_source()) {
        (Some(range), Some(src)) => {
            let start = range.start.min(src.len());
            let line_start = src[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
            // The engine saw the rewritten text; count in the text as written
            // (the rewrite never adds or removes a line break).
            match rewritten.get(e.name().unwrap_or(name)) {
                Some(r) => r.original_offset(start) - r.original_offset(line_start) + 1,
                None => start - line_start + 1,
            }
        }
        _ => 1,
    };
    match e.line() {
        Some(line) => ConfigError::at(&file, Mark { line, column }, message),
        None => ConfigError::in_file(&file, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([("TAG".to_string(), "v2".to_string())])
    }

    #[test]
    fn python_methods_work() {
        let out = render(
            "{% for k, v in {'a': 1}.items() %}{{ k.upper() }}={{ '{}-{}'.format(v, env.TAG) }}{% endfor %} {{ env.NOPE | default('x') }} {{ 'a b'.split()[1] }}{% for i in range(2) %}{{ loop.index0 }}{% endfor %}",
            "t.yaml",
            Path::new("."),
            &env(),
        )
        .unwrap();
        assert_eq!(out, "A=1-v2 x b01");
    }

    fn ok(text: &str) -> String {
        match render(text, "t.yaml", Path::new("."), &env()) {
            Ok(out) => out,
            Err(e) => panic!("{text}: {e:?}"),
        }
    }

    fn fails(text: &str) -> ConfigError {
        match render(text, "t.yaml", Path::new("."), &env()) {
            Ok(out) => panic!("{text} rendered {out:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn list_literals_change_in_place() {
        let out = ok("{% set x = [] %}\
            {% for n in ['a', 'b'] %}{% set _ = x.append(n ~ loop.index) %}{% endfor %}\
            {% set _ = x.extend(['c', 'd']) %}{% set _ = x.insert(0, 'z') %}\
            {% set _ = x.insert(-1, 'y') %}{% set p = x.pop() %}{% set q = x.pop(0) %}\
            {{ x }} {{ p }} {{ q }} {{ x|join(',') }} {{ x|length }} {{ x[-1] }} {{ x[1:] }}\
            {% for v in x %}<{{ loop.index }}:{{ v }}>{% endfor %}\
            {% set _ = x.remove('y') %} {{ x }} {{ x.index('c') }} {{ x.count('a1') }}\
            {% set _ = x.clear() %} {{ x }} {{ 'empty' if not x else 'full' }}");
        assert_eq!(
            out,
            "['a1', 'b2', 'c', 'y'] d z a1,b2,c,y 4 y ['b2', 'c', 'y']\
             <1:a1><2:b2><3:c><4:y> ['a1', 'b2', 'c'] 2 1 [] empty"
        );
    }

    #[test]
    fn dict_literals_change_in_place_and_keep_their_order() {
        let out = ok("{% set d = {'zk': 1} %}\
            {% set _ = d.update({'b': [2], 'a': none}) %}{% set _ = d.update(c=3) %}\
            {% set s = d.setdefault('e', 'new') %}{% set t = d.setdefault('zk', 'old') %}\
            {{ d }} {{ s }} {{ t }} {{ d|length }} {{ d.keys()|join(',') }} {{ d.b[0] }} {{ d['e'] }}\
            {% for k, v in d.items() %} {{ k }}={{ v }}{% endfor %}\
            {% set _ = d.b.append(4) %} {{ d.pop('b') }} {{ d.pop('nope', 'dflt') }} {{ d }}");
        assert_eq!(
            out,
            "{'zk': 1, 'b': [2], 'a': None, 'c': 3, 'e': 'new'} new 1 5 zk,b,a,c,e 2 new \
             zk=1 b=[2] a=None c=3 e=new [2, 4] dflt {'zk': 1, 'a': None, 'c': 3, 'e': 'new'}"
        );
    }

    #[test]
    fn each_evaluation_of_a_literal_is_a_new_object() {
        assert_eq!(
            ok("{% for i in range(3) %}{% set x = [] %}{% set _ = x.append(i) %}{{ x }}{% endfor %}"),
            "[0][1][2]"
        );
        assert_eq!(
            ok("{% macro m(acc=[]) %}{% set _ = acc.append(1) %}{{ acc }}{% endmacro %}{{ m() }}{{ m() }}"),
            "[1][1]"
        );
    }

    #[test]
    fn changed_values_compare_and_test_like_lists_and_dicts() {
        assert_eq!(
            ok("{% set x = [1] %}{% set _ = x.append(2) %}{% set d = {} %}{% set _ = d.update(a=1) %}\
                {{ x == [1, 2] }} {{ [1, 2] == x }} {{ x != [1] }} {{ 2 in x }} {{ x is sequence }} \
                {{ d == {'a': 1} }} {{ 'a' in d }} {{ d is mapping }} {{ x|sort|reverse|list }} \
                {{ x|sum }} {{ x|first }} {{ [x] }} {{ x + [3] }} {{ {'a': [1]} }} {{ d.a }} {{ d.get('z', 0) }}"),
            "True True True True True True True True [2, 1] 3 1 [[1, 2]] [1, 2, 3] {'a': [1]} 1 0"
        );
    }

    #[test]
    fn lists_made_by_list_sort_split_and_dict_change_too() {
        assert_eq!(
            ok("{% set a = 'x y'.split() %}{% set _ = a.append('z') %}\
                {% set b = (a + ['w'])|list %}{% set _ = b.append('v') %}\
                {% set c = b|sort %}{% set _ = c.pop() %}\
                {% set d = dict(k=1) %}{% set _ = d.update([('j', 2)]) %}\
                {% set e = dict({'q': 1}, r=2) %}{% set _ = e.setdefault('s', 3) %}\
                {{ a }} {{ b }} {{ c }} {{ d }} {{ e }}"),
            "['x', 'y', 'z'] ['x', 'y', 'z', 'w', 'v'] ['v', 'w', 'x', 'y'] {'k': 1, 'j': 2} \
             {'q': 1, 'r': 2, 's': 3}"
        );
    }

    #[test]
    fn changing_what_cannot_be_changed_is_a_located_error() {
        let e = fails("a: 1\nb: {% set x = [1] + [2] %}{% set _ = x.append(3) %}\n");
        assert_eq!(e.mark.map(|m| m.line), Some(2));
        assert!(
            e.message.contains("cannot be changed with append") && e.message.contains("|list"),
            "{}",
            e.message
        );
        let e = fails("{% set _ = env.update(a=1) %}");
        assert!(
            e.message
                .contains("this dict cannot be changed with update"),
            "{}",
            e.message
        );
        let e = fails("{% set x = (1, 2) %}{% set _ = x.append(3) %}");
        assert!(
            e.message.contains("a tuple has no method append"),
            "{}",
            e.message
        );
        let e = fails("{% set x = [] %}{% set _ = x.append(x) %}");
        assert!(
            e.message.contains("cannot be put inside itself"),
            "{}",
            e.message
        );
        let e = fails("{% set x = [] %}{% set y = [x] %}{% set _ = x.append({'k': (y,)}) %}");
        assert!(
            e.message.contains("cannot be put inside itself"),
            "{}",
            e.message
        );
        let e = fails("{% set x = [] %}{{ x.pop() }}");
        assert!(e.message.contains("pop from empty list"), "{}", e.message);
        let e = fails("{% set d = {} %}{{ d.pop('k') }}");
        assert!(e.message.contains("no key 'k'"), "{}", e.message);
    }

    #[test]
    fn deep_and_shared_nesting_is_looked_through_once() {
        // 100,000 levels deep, and a tuple shared 2^60 times over: the check
        // that a list is not put inside itself neither recurses nor repeats.
        assert_eq!(
            ok(
                "{% set x = [] %}{% for i in range(100000) %}{% set x = [x] %}{% endfor %}\
                {% set t = () %}{% for i in range(60) %}{% set t = (t, t) %}{% endfor %}\
                {% set y = [] %}{% set _ = y.append(x) %}{% set _ = y.append(t) %}{{ y|length }}"
            ),
            "2"
        );
    }

    #[test]
    fn errors_after_literals_keep_their_column() {
        // The same error, with and without literals before it on its line.
        let plain = fails("a: 1\nb: {{ 1 }} {{ x.frob() }}\n");
        let literals = fails(
            "a: 1\nb: {{ 1 }} {{ x.frob() }}\n"
                .replace("1 }}", "[{1: [1]}] }}")
                .as_str(),
        );
        let (plain, literals) = (
            plain.mark.expect("a place"),
            literals.mark.expect("a place"),
        );
        assert_eq!(plain.line, 2);
        assert_eq!(literals.column, plain.column + "[{1: [1]}]".len() - 1);
    }

    #[test]
    fn do_tags_fail_as_in_maestrong() {
        let e = fails("a: 1\nb: 2\n  {%- do [].append(1) %}\n");
        assert_eq!(e.mark.map(|m| (m.line, m.column)), Some((3, 7)));
        assert!(
            e.message
                .starts_with("template error: unknown statement do"),
            "{}",
            e.message
        );
        let dir = std::env::temp_dir().join(format!("maestro-do-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        std::fs::write(dir.join("inc.j2"), "x\n{% do 1 %}").expect("the included file");
        let e = render("{% include 'inc.j2' %}", "t.yaml", &dir, &env()).expect_err("do fails");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.file, dir.join("inc.j2").display().to_string());
        assert_eq!(e.mark.map(|m| (m.line, m.column)), Some((2, 4)), "{e:?}");
    }

    #[test]
    fn included_templates_change_lists_too() {
        let dir = std::env::temp_dir().join(format!("maestro-inc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        std::fs::write(dir.join("peers.j2"), "{% set peers = [] %}{% for i in range(2) %}{% set _ = peers.append('zk-' ~ i) %}{% endfor %}")
            .expect("the included file");
        let out = render("{% from 'peers.j2' import peers %}{% set _ = peers.append('x') %}{{ peers|join(',') }}", "t.yaml", &dir, &env());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(out.expect("renders"), "zk-0,zk-1,x");
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = render("a: 1\nb: {{ oops( }}\n", "t.yaml", Path::new("."), &env()).unwrap_err();
        assert_eq!(err.mark.map(|m| m.line), Some(2));
        assert!(
            err.message.starts_with("template error:"),
            "{}",
            err.message
        );
    }
}
