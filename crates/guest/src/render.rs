//! Templates: Jinja2 syntax (minijinja with Python-compatible methods), with
//! every guest function callable and the environment available as `env`.
//!
//! ```text
//! {% for node in get_node_list('zookeeper', ports=['peer', 'leader_election']) %}
//! server.{{ loop.index }}={{ node }}
//! {% endfor %}
//! clientPort={{ get_port('client', default=2181) }}
//! ```
//!
//! Undefined values are errors (`{{ env.MISSING }}` fails; test with
//! `is defined` or use `| default(...)` / `env.get('NAME', 'fallback')`).
//! The template's trailing newline is kept.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value, ValueKind};
use minijinja::{Error, ErrorKind, State, UndefinedBehavior};

use crate::{GuestError, INTERNAL_INTERFACE};

/// A template that could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// The template's name (its path, for a file).
    pub template: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the problem, when known.
    pub column: Option<usize>,
    /// What went wrong.
    pub message: String,
    /// The template line at fault and the length of the faulty part on it,
    /// for a caret under it.
    pub excerpt: Option<(String, usize)>,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.template)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let (Some((text, width)), Some(line), Some(column)) =
            (&self.excerpt, self.line, self.column)
        {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n {line} | {text}\n {} | {}{}",
                " ".repeat(gutter),
                " ".repeat(column - 1),
                "^".repeat((*width).max(1))
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for RenderError {}

/// Renders `source` (named `name` in messages) with `vars` as the
/// environment: to memory, the whole text or an error.
pub fn render_str(
    name: &str,
    source: &str,
    vars: BTreeMap<String, String>,
) -> Result<String, RenderError> {
    let shared = Arc::new(RwLock::new(vars));
    let env = template_environment(&shared);
    let result = env
        .template_from_named_str(name, source)
        .and_then(|template| template.render(()));
    result.map_err(|err| describe(name, source, &err))
}

/// The process environment, as a map (values that are not UTF-8 read
/// lossily).
pub fn process_vars() -> BTreeMap<String, String> {
    std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

type SharedVars = Arc<RwLock<BTreeMap<String, String>>>;

fn template_environment(vars: &SharedVars) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    env.set_syntax(syntax.build().expect("the default syntax is valid"));
    env.add_global("env", Value::from_object(EnvObject(vars.clone())));
    for function in Function::ALL {
        env.add_global(
            function.name(),
            Value::from_object(GuestFunction {
                function,
                vars: vars.clone(),
            }),
        );
    }
    env
}

/// `env` in templates: a live view of the environment the functions read
/// (so it shows what `update_os_env` added).
#[derive(Debug)]
struct EnvObject(SharedVars);

impl Object for EnvObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let vars = self.0.read().unwrap_or_else(|e| e.into_inner());
        vars.get(key.as_str()?).map(|v| Value::from(v.as_str()))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let vars = self.0.read().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<Value> = vars.keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Values(keys)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    GetEnvironmentName,
    GetServiceName,
    GetContainerName,
    GetContainerHostAddress,
    GetContainerInternalAddress,
    GetPort,
    GetSpecificHost,
    GetSpecificPort,
    GetSpecificExposedPort,
    GetNodeList,
    UpdateOsEnv,
}

impl Function {
    const ALL: [Function; 11] = [
        Function::GetEnvironmentName,
        Function::GetServiceName,
        Function::GetContainerName,
        Function::GetContainerHostAddress,
        Function::GetContainerInternalAddress,
        Function::GetPort,
        Function::GetSpecificHost,
        Function::GetSpecificPort,
        Function::GetSpecificExposedPort,
        Function::GetNodeList,
        Function::UpdateOsEnv,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::GetEnvironmentName => "get_environment_name",
            Function::GetServiceName => "get_service_name",
            Function::GetContainerName => "get_container_name",
            Function::GetContainerHostAddress => "get_container_host_address",
            Function::GetContainerInternalAddress => "get_container_internal_address",
            Function::GetPort => "get_port",
            Function::GetSpecificHost => "get_specific_host",
            Function::GetSpecificPort => "get_specific_port",
            Function::GetSpecificExposedPort => "get_specific_exposed_port",
            Function::GetNodeList => "get_node_list",
            Function::UpdateOsEnv => "update_os_env",
        }
    }

    /// Parameter names, in Python's order.
    fn params(self) -> &'static [&'static str] {
        match self {
            Function::GetEnvironmentName
            | Function::GetServiceName
            | Function::GetContainerName
            | Function::GetContainerInternalAddress => &[],
            Function::GetContainerHostAddress => &["as_ip_address"],
            Function::GetPort => &["name", "default"],
            Function::GetSpecificHost => &["service", "container"],
            Function::GetSpecificPort | Function::GetSpecificExposedPort => {
                &["service", "container", "port", "default"]
            }
            Function::GetNodeList => &["service", "ports", "minimum"],
            Function::UpdateOsEnv => &["env_vars"],
        }
    }

    /// How many parameters must be given.
    fn required(self) -> usize {
        match self {
            Function::GetPort => 1,
            Function::GetSpecificHost => 2,
            Function::GetSpecificPort | Function::GetSpecificExposedPort => 3,
            Function::GetNodeList => 1,
            _ => 0,
        }
    }
}

/// A guest function callable from templates, with positional and keyword
/// arguments as in Python.
#[derive(Debug)]
struct GuestFunction {
    function: Function,
    vars: SharedVars,
}

impl Object for GuestFunction {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let f = self.function;
        let args = bind(f, args)?;
        let guest = |e: GuestError| {
            Error::new(ErrorKind::InvalidOperation, format!("{}(): {e}", f.name())).with_source(e)
        };
        if f == Function::UpdateOsEnv {
            let additions = string_map(f, args[0].as_ref())?;
            let mut vars = self.vars.write().unwrap_or_else(|e| e.into_inner());
            vars.extend(additions);
            return Ok(Value::from(""));
        }
        let vars = self.vars.read().unwrap_or_else(|e| e.into_inner());
        let vars = &*vars;
        let value = match f {
            Function::GetEnvironmentName => Value::from(crate::get_environment_name(vars)),
            Function::GetServiceName => Value::from(crate::get_service_name(vars).map_err(guest)?),
            Function::GetContainerName => {
                Value::from(crate::get_container_name(vars).map_err(guest)?)
            }
            Function::GetContainerHostAddress => {
                let as_ip = args[0].as_ref().is_some_and(Value::is_true);
                Value::from(crate::get_container_host_address(vars, as_ip).map_err(guest)?)
            }
            Function::GetContainerInternalAddress => Value::from(
                crate::net::interface_ipv4(INTERNAL_INTERFACE)
                    .map_err(guest)?
                    .to_string(),
            ),
            Function::GetPort => {
                let name = string(f, "name", args[0].as_ref())?;
                let default = port_default(args[1].as_ref());
                Value::from(crate::get_port(vars, &name, default).map_err(guest)?)
            }
            Function::GetSpecificHost => {
                let service = string(f, "service", args[0].as_ref())?;
                let container = string(f, "container", args[1].as_ref())?;
                Value::from(crate::get_specific_host(vars, &service, &container).map_err(guest)?)
            }
            Function::GetSpecificPort | Function::GetSpecificExposedPort => {
                let service = string(f, "service", args[0].as_ref())?;
                let container = string(f, "container", args[1].as_ref())?;
                let port = string(f, "port", args[2].as_ref())?;
                let default = port_default(args[3].as_ref());
                let result = if f == Function::GetSpecificPort {
                    crate::get_specific_port(vars, &service, &container, &port, default)
                } else {
                    crate::get_specific_exposed_port(vars, &service, &container, &port, default)
                };
                Value::from(result.map_err(guest)?)
            }
            Function::GetNodeList => {
                let service = string(f, "service", args[0].as_ref())?;
                let ports = string_list(f, "ports", args[1].as_ref())?;
                let minimum = match args[2].as_ref() {
                    None => 1,
                    Some(v) => integer(v).ok_or_else(|| {
                        bad_argument(f, format!("minimum must be an integer, not {}", v.kind()))
                    })?,
                };
                Value::from(crate::get_node_list(vars, &service, &ports, minimum).map_err(guest)?)
            }
            Function::UpdateOsEnv => unreachable!("handled above"),
        };
        Ok(value)
    }
}

/// Python's argument binding: positional, then keywords; each parameter
/// once; the required ones present. `None` for a parameter not given (or
/// given as `none`).
fn bind(f: Function, args: &[Value]) -> Result<Vec<Option<Value>>, Error> {
    let params = f.params();
    let (positional, kwargs) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(Kwargs::try_from(last.clone())?)),
        _ => (args, None),
    };
    if positional.len() > params.len() {
        return Err(bad_argument(
            f,
            format!(
                "takes at most {} argument(s) ({} given)",
                params.len(),
                positional.len()
            ),
        ));
    }
    let mut bound: Vec<Option<Value>> = vec![None; params.len()];
    let mut given = vec![false; params.len()];
    for (i, value) in positional.iter().enumerate() {
        given[i] = true;
        bound[i] = Some(value.clone()).filter(|v| !v.is_none());
    }
    if let Some(kwargs) = kwargs {
        for key in kwargs.args() {
            let Some(i) = params.iter().position(|p| *p == key) else {
                return Err(bad_argument(
                    f,
                    format!("got an unexpected keyword argument {key:?}"),
                ));
            };
            if given[i] {
                return Err(bad_argument(
                    f,
                    format!("got multiple values for argument {key:?}"),
                ));
            }
            given[i] = true;
            let value: Value = kwargs.peek(key)?;
            bound[i] = Some(value).filter(|v| !v.is_none());
        }
    }
    if let Some(missing) = (0..f.required()).find(|i| !given[*i]) {
        return Err(bad_argument(
            f,
            format!("missing required argument {:?}", params[missing]),
        ));
    }
    Ok(bound)
}

fn bad_argument(f: Function, detail: String) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{}(): {detail}", f.name()),
    )
}

fn string(f: Function, param: &str, value: Option<&Value>) -> Result<String, Error> {
    match value {
        Some(v) if v.kind() == ValueKind::String => Ok(v.as_str().unwrap_or_default().to_string()),
        Some(v) => Err(bad_argument(
            f,
            format!("{param} must be a string, not {}", v.kind()),
        )),
        None => Err(bad_argument(
            f,
            format!("{param} must be a string, not none"),
        )),
    }
}

/// A list of port names; a single string is one port name.
fn string_list(f: Function, param: &str, value: Option<&Value>) -> Result<Vec<String>, Error> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.kind() == ValueKind::String {
        return Ok(vec![value.as_str().unwrap_or_default().to_string()]);
    }
    let items = value.try_iter().map_err(|_| {
        bad_argument(
            f,
            format!("{param} must be a list of names, not {}", value.kind()),
        )
    })?;
    items
        .map(|item| string(f, param, Some(&item)))
        .collect::<Result<Vec<_>, _>>()
}

fn string_map(f: Function, value: Option<&Value>) -> Result<Vec<(String, String)>, Error> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    if value.kind() != ValueKind::Map {
        return Err(bad_argument(
            f,
            format!("env_vars must be a map, not {}", value.kind()),
        ));
    }
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        let key = string(f, "a variable name", Some(&key))?;
        let item = match item.kind() {
            ValueKind::String | ValueKind::Number => item.to_string(),
            other => {
                return Err(bad_argument(
                    f,
                    format!("the value of {key} must be a string or a number, not {other}"),
                ))
            }
        };
        pairs.push((key, item));
    }
    Ok(pairs)
}

/// An integer as Python's `int()` would take it: integers, booleans, floats
/// (truncated), strings of digits.
fn integer(value: &Value) -> Option<i64> {
    match value.kind() {
        ValueKind::Bool => Some(i64::from(value.is_true())),
        ValueKind::String => crate::parse_python_int(value.as_str()?),
        ValueKind::Number => i64::try_from(value.clone()).ok().or_else(|| {
            let f = f64::try_from(value.clone()).ok()?;
            let t = f.trunc();
            (t.is_finite() && t >= i64::MIN as f64 && t < i64::MAX as f64).then_some(t as i64)
        }),
        _ => None,
    }
}

/// A port default as MaestroNG's `int(default)` would take it; one it could
/// not take is no default (the function then fails only when the variable is
/// missing, as MaestroNG does).
fn port_default(value: Option<&Value>) -> Option<i64> {
    value.and_then(integer)
}

/// The message for an error of minijinja, with the template position.
fn describe(name: &str, source: &str, err: &Error) -> RenderError {
    let range = err.range().filter(|r| r.start <= source.len());
    let (line, column, excerpt) = match range {
        Some(ref range) => {
            let before = &source[..range.start];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = before.matches('\n').count() + 1;
            let column = source[line_start..range.start].chars().count() + 1;
            let line_end = source[line_start..]
                .find('\n')
                .map_or(source.len(), |i| line_start + i);
            let text = source[line_start..line_end].trim_end_matches('\r');
            let end = range.end.min(line_end).max(range.start);
            let width = source[range.start..end].chars().count();
            (Some(line), Some(column), Some((text.to_string(), width)))
        }
        None => (err.line(), None, None),
    };
    let mut message = match (err.kind(), err.detail()) {
        (ErrorKind::UndefinedError, _) => match range {
            Some(r) if r.end <= source.len() && r.start < r.end => {
                format!("undefined value: {}", &source[r])
            }
            _ => "undefined value".to_string(),
        },
        (ErrorKind::InvalidOperation, Some(detail)) => detail.to_string(),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    // an error raised inside a macro or an include of another template
    if let Some(other) = err.name().filter(|n| *n != name) {
        message.push_str(&format!(" (in {other})"));
    }
    RenderError {
        template: name.to_string(),
        line,
        column,
        message,
        excerpt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [
            ("SERVICE_NAME", "zk"),
            ("CONTAINER_NAME", "zk-2"),
            ("ZK_INSTANCES", "zk-1,zk-2"),
            ("ZK_ZK_1_HOST", "10.0.0.1"),
            ("ZK_ZK_1_PEER_PORT", "2888"),
            ("ZK_ZK_1_LEADER_ELECTION_PORT", "3888"),
            ("ZK_ZK_2_HOST", "10.0.0.2"),
            ("ZK_ZK_2_PEER_PORT", "2889"),
            ("ZK_ZK_2_LEADER_ELECTION_PORT", "3889"),
            ("ZK_ZK_2_CLIENT_INTERNAL_PORT", "2181"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn render(source: &str) -> Result<String, RenderError> {
        render_str("t.j2", source, vars())
    }

    #[test]
    fn spec_example() {
        let out = render(
            "{% for node in get_node_list('zookeeper' if false else 'zk', ports=['peer', 'leader_election']) %}server.{{ loop.index }}={{ node }}\n{% endfor %}",
        )
        .unwrap();
        assert_eq!(
            out,
            "server.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2889:3889\n"
        );
    }

    #[test]
    fn functions_and_env() {
        assert_eq!(
            render("{{ get_service_name() }}/{{ get_container_name() }}/{{ get_environment_name() }}\n").unwrap(),
            "zk/zk-2/local\n"
        );
        assert_eq!(
            render("{{ get_port('client') }} {{ get_port('admin', default=8080) }} {{ get_port('admin', 9090) }} {{ get_port('x', default='70') }}").unwrap(),
            "2181 8080 9090 70"
        );
        assert_eq!(
            render("{{ get_specific_port('zk', 'zk-1', 'peer') + 1 }} {{ get_specific_exposed_port(service='zk', container='zk-2', port='client') }}").unwrap(),
            "2889 2181"
        );
        assert_eq!(
            render("{{ get_specific_host('zk', container='zk-1') }}").unwrap(),
            "10.0.0.1"
        );
        assert_eq!(
            render("{{ get_node_list('zk', 'peer', minimum=2) | join(',') }}").unwrap(),
            "10.0.0.1:2888,10.0.0.2:2889"
        );
        assert_eq!(
            render("{{ env.ZK_ZK_1_HOST }} {{ env['SERVICE_NAME'] }} {{ env.get('NOPE', 'd') }} {{ env.NOPE | default('x') }} {{ 'yes' if env.NOPE is defined else 'no' }}").unwrap(),
            "10.0.0.1 zk d x no"
        );
        assert_eq!(
            render("{{ update_os_env({'SERVICE_NAME': 'kafka', 'N': 3}) }}{{ get_service_name() }} {{ env.N }}").unwrap(),
            "kafka 3"
        );
        assert_eq!(
            render("{{ get_container_host_address() }}")
                .unwrap_err()
                .message,
            "get_container_host_address(): Container host address was not defined"
        );
        assert_eq!(render("a\n").unwrap(), "a\n");
    }

    #[test]
    fn missing_variable_has_position() {
        let err = render("line one\nvalue = {{ env.NOT_SET }}\n").unwrap_err();
        assert_eq!((err.line, err.column), (Some(2), Some(12)));
        assert_eq!(err.message, "undefined value: env.NOT_SET");
        assert_eq!(
            err.to_string(),
            "t.j2:2:12: undefined value: env.NOT_SET\n 2 | value = {{ env.NOT_SET }}\n   |            ^^^^^^^^^^^"
        );
        let err = render("{{ nothing }}").unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(4)));
    }

    #[test]
    fn function_error_has_position() {
        let err =
            render("x\n  {% for n in get_node_list('zk', minimum=3) %}{% endfor %}").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.column, Some(15));
        assert!(
            err.message
                .starts_with("get_node_list(): No or not enough zk nodes configured"),
            "{}",
            err.message
        );
        let err = render("{{ get_port('peer') }}").unwrap_err();
        assert!(err.message.starts_with(
            "get_port(): No internal port peer defined for container zk-2 of service zk"
        ));
    }

    #[test]
    fn argument_errors() {
        for (source, expected) in [
            (
                "{{ get_port() }}",
                "get_port(): missing required argument \"name\"",
            ),
            (
                "{{ get_port('a', 1, 2) }}",
                "get_port(): takes at most 2 argument(s) (3 given)",
            ),
            (
                "{{ get_port('a', nme=1) }}",
                "get_port(): got an unexpected keyword argument \"nme\"",
            ),
            (
                "{{ get_port('a', name='b') }}",
                "get_port(): got multiple values for argument \"name\"",
            ),
            (
                "{{ get_specific_host('zk', 1) }}",
                "get_specific_host(): container must be a string, not number",
            ),
            (
                "{{ get_node_list('zk', minimum='x') }}",
                "get_node_list(): minimum must be an integer, not string",
            ),
        ] {
            assert_eq!(render(source).unwrap_err().message, expected, "{source}");
        }
    }

    #[test]
    fn syntax_error_has_position() {
        let err = render("ok\n{% for x in %}").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }
}
