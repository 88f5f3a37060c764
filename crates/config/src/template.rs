//! The first loading step: the environment file is a Jinja2 template whose one
//! variable is `env`, the process environment. `include`/`import` resolve
//! relative to the environment file's directory, as MaestroNG's loader did.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{AutoEscape, Environment, Value};

use crate::error::{ConfigError, Mark};

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
    let mut jinja = Environment::new();
    jinja.set_loader(capped_loader(base_dir.to_owned()));
    jinja.set_auto_escape_callback(|_| AutoEscape::None);
    jinja.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    jinja.set_fuel(Some(TEMPLATE_FUEL));
    let context = minijinja::context! { env => Value::from(env.clone()) };
    jinja
        .render_named_str(name, text, context)
        .map_err(|e| template_error(&e, name, base_dir))
}

/// Most bytes an included template may have.
const MAX_INCLUDE_BYTES: u64 = crate::MAX_FILE_BYTES as u64;

/// Included templates, relative to `base`, read with a cap (a device or an
/// endless pipe is refused once the cap is passed, not read forever).
/// Names with `..` or `\\` are not found, as with minijinja's own loader.
fn capped_loader(
    base: std::path::PathBuf,
) -> impl Fn(&str) -> Result<Option<String>, minijinja::Error> + Send + Sync + 'static {
    move |name: &str| {
        let mut path = base.clone();
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
}

fn template_error(e: &minijinja::Error, name: &str, base_dir: &Path) -> ConfigError {
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
            let before = &src[..range.start.min(src.len())];
            before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1
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
