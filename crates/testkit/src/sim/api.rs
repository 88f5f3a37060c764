//! The HTTP face of a simulated engine, without I/O: which call a request is
//! ([`route`] → [`Call`]), the API version checks a real engine makes, query
//! and path decoding, and the fixed documents (`/version`, `/info`).

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::engine::{ApiError, Filters, Identity, LogOptions};
use crate::route::{compare_versions, split_version};

/// One call of the Engine API, with its arguments decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Ping,
    Version,
    Info,
    ContainerList {
        all: bool,
        filters: String,
    },
    ContainerCreate {
        name: Option<String>,
    },
    ContainerInspect {
        name: String,
    },
    ContainerStart {
        name: String,
    },
    ContainerStop {
        name: String,
        grace: Option<i64>,
    },
    ContainerKill {
        name: String,
        signal: String,
    },
    ContainerRemove {
        name: String,
        force: bool,
    },
    ContainerRename {
        name: String,
        to: String,
    },
    ContainerWait {
        name: String,
        condition: String,
    },
    ContainerLogs {
        name: String,
        options: LogOptions,
        follow: bool,
    },
    ExecCreate {
        name: String,
    },
    ExecStart {
        id: String,
    },
    ExecInspect {
        id: String,
    },
    ImageInspect {
        name: String,
    },
    ImageList {
        reference: Option<String>,
    },
    ImagePull {
        from_image: String,
        tag: String,
    },
    NetworkList {
        filters: String,
    },
    NetworkCreate,
    /// `id`: a network's id, name or id prefix.
    NetworkInspect {
        id: String,
    },
    NetworkConnect {
        id: String,
    },
    NetworkRemove {
        id: String,
    },
    VolumeList {
        filters: String,
    },
    VolumeCreate,
    VolumeInspect {
        name: String,
    },
    VolumeRemove {
        name: String,
        force: bool,
    },
    /// No such route: 404 `page not found`.
    NotFound,
    /// A route that exists, with a method it does not take: 405.
    BadMethod,
}

impl Call {
    /// A short name for statistics and logs (`container inspect`).
    pub fn label(&self) -> &'static str {
        match self {
            Call::Ping => "ping",
            Call::Version => "version",
            Call::Info => "info",
            Call::ContainerList { .. } => "container list",
            Call::ContainerCreate { .. } => "container create",
            Call::ContainerInspect { .. } => "container inspect",
            Call::ContainerStart { .. } => "container start",
            Call::ContainerStop { .. } => "container stop",
            Call::ContainerKill { .. } => "container kill",
            Call::ContainerRemove { .. } => "container remove",
            Call::ContainerRename { .. } => "container rename",
            Call::ContainerWait { .. } => "container wait",
            Call::ContainerLogs { .. } => "container logs",
            Call::ExecCreate { .. } => "exec create",
            Call::ExecStart { .. } => "exec start",
            Call::ExecInspect { .. } => "exec inspect",
            Call::ImageInspect { .. } => "image inspect",
            Call::ImageList { .. } => "image list",
            Call::ImagePull { .. } => "image pull",
            Call::NetworkList { .. } => "network list",
            Call::NetworkCreate => "network create",
            Call::NetworkInspect { .. } => "network inspect",
            Call::NetworkConnect { .. } => "network connect",
            Call::NetworkRemove { .. } => "network remove",
            Call::VolumeList { .. } => "volume list",
            Call::VolumeCreate => "volume create",
            Call::VolumeInspect { .. } => "volume inspect",
            Call::VolumeRemove { .. } => "volume remove",
            Call::NotFound => "not found",
            Call::BadMethod => "bad method",
        }
    }
}

/// A routed request: the call, and the API version it was made at (`None`
/// for an unversioned path, which gets the newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub call: Call,
    pub version: Option<String>,
}

/// Routes a request; `Err` for a version the engine does not serve (400, as
/// Docker words it).
pub fn route(identity: &Identity, method: &str, path_and_query: &str) -> Result<Routed, ApiError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, query),
        None => (path_and_query, ""),
    };
    let (version, path) = match split_version(path) {
        Some((version, rest)) => {
            if compare_versions(version, &identity.min_api_version) == Ordering::Less {
                return Err(ApiError::new(
                    400,
                    format!(
                        "client version {version} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                        identity.min_api_version
                    ),
                ));
            }
            if compare_versions(version, &identity.api_version) == Ordering::Greater {
                return Err(ApiError::new(
                    400,
                    format!(
                        "client version {version} is too new. Maximum supported API version is {}",
                        identity.api_version
                    ),
                ));
            }
            (Some(version.to_owned()), rest)
        }
        None => (None, path),
    };
    let q = Query::parse(query);
    let call = call_of(method, path, &q, version.as_deref());
    Ok(Routed { call, version })
}

fn call_of(method: &str, path: &str, q: &Query, version: Option<&str>) -> Call {
    let get = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    let post = method.eq_ignore_ascii_case("POST");
    let delete = method.eq_ignore_ascii_case("DELETE");
    let expect = |ok: bool, call: Call| if ok { call } else { Call::BadMethod };
    match path {
        "/_ping" => return expect(get, Call::Ping),
        "/version" => return expect(get, Call::Version),
        "/info" => return expect(get, Call::Info),
        "/containers/json" => {
            return expect(
                get,
                Call::ContainerList {
                    all: q.flag("all"),
                    filters: q.get("filters").unwrap_or("").to_owned(),
                },
            )
        }
        "/containers/create" => {
            return expect(
                post,
                Call::ContainerCreate {
                    name: q.get("name").map(str::to_owned),
                },
            )
        }
        "/images/json" => {
            // `filter` (a reference) was honoured before API 1.41.
            let old = version.is_some_and(|v| compare_versions(v, "1.41") == Ordering::Less);
            let mut reference = if old {
                q.get("filter").map(str::to_owned)
            } else {
                None
            };
            if let Some(filters) = q.get("filters") {
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(filters) {
                    if let Some(first) = match map.get("reference") {
                        Some(Value::Array(list)) => {
                            list.first().and_then(Value::as_str).map(str::to_owned)
                        }
                        Some(Value::Object(map)) => map.keys().next().cloned(),
                        _ => None,
                    } {
                        reference = Some(first);
                    }
                }
            }
            return expect(get, Call::ImageList { reference });
        }
        "/images/create" => {
            return expect(
                post,
                Call::ImagePull {
                    // An import (`fromSrc`) names its image `repo`.
                    from_image: q
                        .get("fromImage")
                        .or_else(|| q.get("repo"))
                        .unwrap_or("")
                        .to_owned(),
                    tag: q.get("tag").unwrap_or("").to_owned(),
                },
            );
        }
        _ => {}
    }
    if let Some(call) = object_call(method, path, q) {
        return call;
    }
    if let Some(rest) = path.strip_prefix("/images/") {
        if let Some(name) = rest.strip_suffix("/json") {
            return expect(
                get,
                Call::ImageInspect {
                    name: decode(name, false),
                },
            );
        }
        return Call::NotFound;
    }
    if let Some(rest) = path.strip_prefix("/exec/") {
        let Some((id, action)) = rest.split_once('/') else {
            return Call::NotFound;
        };
        let id = decode(id, false);
        return match action {
            "start" => expect(post, Call::ExecStart { id }),
            "json" => expect(get, Call::ExecInspect { id }),
            _ => Call::NotFound,
        };
    }
    if let Some(rest) = path.strip_prefix("/containers/") {
        let (name, action) = match rest.split_once('/') {
            Some((name, action)) => (decode(name, false), Some(action)),
            None => (decode(rest, false), None),
        };
        if name.is_empty() {
            return Call::NotFound;
        }
        return match action {
            None => expect(
                delete,
                Call::ContainerRemove {
                    name,
                    force: q.flag("force"),
                },
            ),
            Some("json") => expect(get, Call::ContainerInspect { name }),
            Some("start") => expect(post, Call::ContainerStart { name }),
            Some("rename") => expect(
                post,
                Call::ContainerRename {
                    name,
                    to: q.get("name").unwrap_or("").to_owned(),
                },
            ),
            Some("stop") => expect(
                post,
                Call::ContainerStop {
                    name,
                    grace: q.get("t").and_then(|t| t.parse().ok()),
                },
            ),
            Some("kill") => expect(
                post,
                Call::ContainerKill {
                    name,
                    signal: q.get("signal").unwrap_or("SIGKILL").to_owned(),
                },
            ),
            Some("wait") => expect(
                post,
                Call::ContainerWait {
                    name,
                    condition: q.get("condition").unwrap_or("").to_owned(),
                },
            ),
            Some("logs") => expect(
                get,
                Call::ContainerLogs {
                    name,
                    options: LogOptions {
                        stdout: q.flag("stdout"),
                        stderr: q.flag("stderr"),
                        timestamps: q.flag("timestamps"),
                        tail: q.get("tail").and_then(|t| t.parse().ok()),
                    },
                    follow: q.flag("follow"),
                },
            ),
            Some("exec") => expect(post, Call::ExecCreate { name }),
            Some(_) => Call::NotFound,
        };
    }
    Call::NotFound
}

/// The calls on networks and volumes (`None`: another path). As on a real
/// engine, `GET /networks/create` inspects a network named `create`.
fn object_call(method: &str, path: &str, q: &Query) -> Option<Call> {
    let get = method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD");
    let post = method.eq_ignore_ascii_case("POST");
    let delete = method.eq_ignore_ascii_case("DELETE");
    let filters = || q.get("filters").unwrap_or("").to_owned();
    if path == "/networks" || path == "/networks/" {
        return Some(if get {
            Call::NetworkList { filters: filters() }
        } else {
            Call::BadMethod
        });
    }
    if path == "/volumes" || path == "/volumes/" {
        return Some(if get {
            Call::VolumeList { filters: filters() }
        } else {
            Call::BadMethod
        });
    }
    if let Some(rest) = path.strip_prefix("/networks/") {
        let (id, action) = match rest.split_once('/') {
            Some((id, action)) => (decode(id, false), Some(action)),
            None => (decode(rest, false), None),
        };
        return Some(match action {
            None if post && id == "create" => Call::NetworkCreate,
            None if get => Call::NetworkInspect { id },
            None if delete => Call::NetworkRemove { id },
            None => Call::BadMethod,
            Some("connect") if post => Call::NetworkConnect { id },
            Some("connect") => Call::BadMethod,
            Some(_) => Call::NotFound,
        });
    }
    if let Some(rest) = path.strip_prefix("/volumes/") {
        if rest.contains('/') {
            return Some(Call::NotFound);
        }
        let name = decode(rest, false);
        return Some(if post && name == "create" {
            Call::VolumeCreate
        } else if get {
            Call::VolumeInspect { name }
        } else if delete {
            Call::VolumeRemove {
                name,
                force: q.flag("force"),
            }
        } else {
            Call::BadMethod
        });
    }
    None
}

/// A decoded query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: &str) -> Query {
        Query(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k, true), decode(v, true))
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean as Docker reads one: absent, ``, `0`, `no`, `false`,
    /// `none` are false; anything else is true.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
        })
    }
}

/// Percent-decoding (and `+` → space in a query).
pub fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a container list's `filters`.
pub fn filters(text: &str) -> Result<Filters, ApiError> {
    Filters::parse(text)
}

/// `GET /version`.
pub fn version_document(identity: &Identity) -> Value {
    json!({
        "Platform": {"Name": "maestro-testkit simulated engine"},
        "Components": [{
            "Name": "Engine",
            "Version": identity.engine_version,
            "Details": {
                "ApiVersion": identity.api_version,
                "Arch": "amd64",
                "BuildTime": "2024-09-20T11:41:00.000000000+00:00",
                "Experimental": "false",
                "GitCommit": "sim",
                "GoVersion": "go1.22.7",
                "KernelVersion": "6.1.0-sim",
                "MinAPIVersion": identity.min_api_version,
                "Os": "linux",
            }
        }],
        "Version": identity.engine_version,
        "ApiVersion": identity.api_version,
        "MinAPIVersion": identity.min_api_version,
        "GitCommit": "sim",
        "GoVersion": "go1.22.7",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0-sim",
        "BuildTime": "2024-09-20T11:41:00.000000000+00:00",
    })
}

/// `GET /info`: the fields clients commonly read.
pub fn info_document(
    identity: &Identity,
    containers: usize,
    running: usize,
    images: usize,
) -> Value {
    json!({
        "ID": identity.name,
        "Containers": containers,
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": containers - running.min(containers),
        "Images": images,
        "Driver": "overlay2",
        "Name": identity.name,
        "ServerVersion": identity.engine_version,
        "OperatingSystem": "maestro-testkit simulated engine",
        "OSType": "linux",
        "Architecture": "x86_64",
        "NCPU": 2,
        "MemTotal": 25_275_797_504_u64,
        "KernelVersion": "6.1.0-sim",
        "DockerRootDir": "/var/lib/docker",
        "Labels": [],
        "ExperimentalBuild": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            engine_version: "27.3.1".into(),
            api_version: "1.47".into(),
            min_api_version: "1.24".into(),
            name: "sim-000".into(),
        }
    }

    fn call(method: &str, target: &str) -> Call {
        route(&identity(), method, target).unwrap().call
    }

    #[test]
    fn routes_the_calls_of_the_plays() {
        assert_eq!(
            call("GET", "/v1.47/containers/web-1/json"),
            Call::ContainerInspect {
                name: "web-1".into()
            }
        );
        assert_eq!(
            call("GET", "/v1.47/images/maestro-test/box:1/json"),
            Call::ImageInspect {
                name: "maestro-test/box:1".into()
            }
        );
        // docker-py quotes the name.
        assert_eq!(
            call("GET", "/v1.47/images/maestro-test%2Fbox%3A1/json"),
            Call::ImageInspect {
                name: "maestro-test/box:1".into()
            }
        );
        assert_eq!(
            call("POST", "/v1.47/containers/create?name=web-1"),
            Call::ContainerCreate {
                name: Some("web-1".into())
            }
        );
        assert_eq!(
            call("POST", "/v1.47/containers/web-1/start"),
            Call::ContainerStart {
                name: "web-1".into()
            }
        );
        assert_eq!(
            call("POST", "/v1.47/containers/web-1/stop?t=10"),
            Call::ContainerStop {
                name: "web-1".into(),
                grace: Some(10)
            }
        );
        assert_eq!(
            call("POST", "/v1.47/containers/web-1/kill"),
            Call::ContainerKill {
                name: "web-1".into(),
                signal: "SIGKILL".into()
            }
        );
        assert_eq!(
            call(
                "DELETE",
                "/v1.47/containers/web-1?v=true&force=false&link=false"
            ),
            Call::ContainerRemove {
                name: "web-1".into(),
                force: false
            }
        );
        assert_eq!(
            call(
                "GET",
                "/v1.47/containers/web-1/logs?stdout=1&stderr=true&tail=15&follow=0"
            ),
            Call::ContainerLogs {
                name: "web-1".into(),
                options: LogOptions {
                    stdout: true,
                    stderr: true,
                    timestamps: false,
                    tail: Some(15)
                },
                follow: false
            }
        );
        assert_eq!(
            call(
                "GET",
                "/v1.47/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
            ),
            Call::ContainerList {
                all: true,
                filters: "{\"label\":[\"a=b\"]}".into()
            }
        );
        assert_eq!(
            call("POST", "/v1.47/images/create?fromImage=busybox&tag=latest"),
            Call::ImagePull {
                from_image: "busybox".into(),
                tag: "latest".into()
            }
        );
        assert_eq!(
            call("POST", "/v1.47/containers/c/exec"),
            Call::ExecCreate { name: "c".into() }
        );
        assert_eq!(
            call("POST", "/v1.47/exec/abc/start"),
            Call::ExecStart { id: "abc".into() }
        );
        assert_eq!(
            call("GET", "/v1.47/exec/abc/json"),
            Call::ExecInspect { id: "abc".into() }
        );
        assert_eq!(call("GET", "/version"), Call::Version);
        assert_eq!(call("HEAD", "/_ping"), Call::Ping);
        assert_eq!(call("GET", "/v1.47/nothing/here"), Call::NotFound);
        assert_eq!(
            call("GET", "/v1.47/containers/web-1/start"),
            Call::BadMethod
        );
    }

    #[test]
    fn routes_the_calls_on_networks_and_volumes() {
        let filters = "%7B%22name%22%3A%5B%22%5Efront%24%22%5D%7D";
        assert_eq!(
            call("GET", &format!("/v1.47/networks?filters={filters}")),
            Call::NetworkList {
                filters: "{\"name\":[\"^front$\"]}".into()
            }
        );
        assert_eq!(
            call("GET", "/v1.41/networks"),
            Call::NetworkList {
                filters: String::new()
            }
        );
        assert_eq!(call("POST", "/v1.47/networks/create"), Call::NetworkCreate);
        assert_eq!(
            call("POST", "/v1.47/networks/front/connect"),
            Call::NetworkConnect { id: "front".into() }
        );
        assert_eq!(
            call("DELETE", "/v1.47/networks/my%2Enet"),
            Call::NetworkRemove {
                id: "my.net".into()
            }
        );
        assert_eq!(
            call("GET", "/v1.47/networks/front"),
            Call::NetworkInspect { id: "front".into() }
        );
        // A network may be named `create`.
        assert_eq!(
            call("GET", "/v1.47/networks/create"),
            Call::NetworkInspect {
                id: "create".into()
            }
        );
        assert_eq!(
            call(
                "GET",
                "/v1.47/volumes?filters=%7B%22name%22%3A%5B%22data%22%5D%7D"
            ),
            Call::VolumeList {
                filters: "{\"name\":[\"data\"]}".into()
            }
        );
        assert_eq!(call("POST", "/v1.47/volumes/create"), Call::VolumeCreate);
        assert_eq!(
            call("GET", "/v1.47/volumes/data"),
            Call::VolumeInspect {
                name: "data".into()
            }
        );
        assert_eq!(
            call("DELETE", "/v1.47/volumes/data?force=false"),
            Call::VolumeRemove {
                name: "data".into(),
                force: false
            }
        );
        assert_eq!(
            call("DELETE", "/volumes/data?force=1"),
            Call::VolumeRemove {
                name: "data".into(),
                force: true
            }
        );
        assert_eq!(call("POST", "/v1.47/networks"), Call::BadMethod);
        assert_eq!(call("PUT", "/v1.47/networks/front"), Call::BadMethod);
        assert_eq!(
            call("GET", "/v1.47/networks/front/connect"),
            Call::BadMethod
        );
        assert_eq!(
            call("POST", "/v1.47/networks/front/inspect"),
            Call::NotFound
        );
        assert_eq!(call("DELETE", "/v1.47/volumes"), Call::BadMethod);
        assert_eq!(call("GET", "/v1.47/volumes/a/b"), Call::NotFound);
        let labels: Vec<&str> = [
            call("GET", "/networks"),
            call("POST", "/networks/create"),
            call("POST", "/networks/n/connect"),
            call("DELETE", "/networks/n"),
            call("GET", "/networks/n"),
            call("GET", "/volumes"),
            call("POST", "/volumes/create"),
            call("DELETE", "/volumes/v"),
            call("GET", "/volumes/v"),
        ]
        .iter()
        .map(Call::label)
        .collect();
        assert_eq!(
            labels,
            [
                "network list",
                "network create",
                "network connect",
                "network remove",
                "network inspect",
                "volume list",
                "volume create",
                "volume remove",
                "volume inspect"
            ]
        );
    }

    #[test]
    fn the_old_image_filter_counts_before_1_41_only() {
        assert_eq!(
            call("GET", "/v1.40/images/json?filter=busybox&only_ids=0"),
            Call::ImageList {
                reference: Some("busybox".into())
            }
        );
        assert_eq!(
            call("GET", "/v1.47/images/json?filter=busybox"),
            Call::ImageList { reference: None }
        );
        assert_eq!(
            call(
                "GET",
                "/v1.47/images/json?filters=%7B%22reference%22%3A%5B%22busybox%22%5D%7D"
            ),
            Call::ImageList {
                reference: Some("busybox".into())
            }
        );
    }

    #[test]
    fn versions_outside_the_range_are_refused() {
        let old = route(&identity(), "GET", "/v1.23/containers/json").unwrap_err();
        assert_eq!(old.status, 400);
        assert!(old
            .message
            .starts_with("client version 1.23 is too old. Minimum supported API version is 1.24"));
        let new = route(&identity(), "GET", "/v1.53/containers/json").unwrap_err();
        assert_eq!(
            new.message,
            "client version 1.53 is too new. Maximum supported API version is 1.47"
        );
        assert_eq!(
            route(&identity(), "GET", "/v1.24/version")
                .unwrap()
                .version
                .as_deref(),
            Some("1.24")
        );
    }

    #[test]
    fn queries_decode_like_docker() {
        let q = Query::parse("a=1&b=no&c=&d=x+y%21&e=False");
        assert!(q.flag("a"));
        assert!(!q.flag("b"));
        assert!(!q.flag("c"));
        assert!(!q.flag("e"));
        assert!(!q.flag("missing"));
        assert_eq!(q.get("d"), Some("x y!"));
        assert_eq!(decode("100%", false), "100%");
        assert_eq!(decode("%zz%41", false), "%zzA");
        assert_eq!(decode("a+b", false), "a+b");
    }

    #[test]
    fn the_version_document_names_the_api_range() {
        let doc = version_document(&identity());
        assert_eq!(doc["ApiVersion"], "1.47");
        assert_eq!(doc["MinAPIVersion"], "1.24");
        assert_eq!(doc["Components"][0]["Details"]["ApiVersion"], "1.47");
    }
}
