//! The pure half of an engine front: who the front pretends to be ([`Persona`]) and,
//! for each request head, what to do with it ([`decide`] → [`Decision`]), plus the
//! pure response edits (the `/version` JSON rewrite, [`rewrite_version_json`]).
//!
//! Nothing here does I/O, so every rule is unit-tested directly. The proxy in
//! [`crate::front`] only carries the decisions out. A later fault-injection mode
//! adds its own [`Decision`] variants (refuse, delay, 500, malformed JSON, cut a
//! stream) decided here, next to the version rules.

use std::cmp::Ordering;

use serde_json::Value;

/// The engine an engine front pretends to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    /// `Version` in `/version` and in the `Server` header, e.g. `29.0.0`.
    pub engine_version: &'static str,
    /// The newest API version served (`ApiVersion`, the `Api-Version` header).
    pub api_version: &'static str,
    /// The oldest API version accepted (`MinAPIVersion`).
    pub min_api_version: &'static str,
}

impl Persona {
    /// Docker Engine 29.0: API 1.52, minimum API 1.44.
    pub const DOCKER_29: Persona = Persona {
        engine_version: "29.0.0",
        api_version: "1.52",
        min_api_version: "1.44",
    };

    /// The `Server` header value Docker sends on every response.
    pub fn server_header(&self) -> String {
        format!("Docker/{} (linux)", self.engine_version)
    }
}

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the request to the backend with this path (and query), then apply `edit`
    /// to the response. The persona's headers (`Api-Version`, `Server`) are always set.
    Forward {
        /// Origin-form target for the backend: path plus `?query` if any.
        path_and_query: String,
        /// The edit to apply to the backend's response.
        edit: ResponseEdit,
    },
    /// Answer without asking the backend: `status` with a JSON `body`.
    Reply {
        /// HTTP status code.
        status: u16,
        /// The JSON body, newline-terminated as Docker's encoder writes it.
        body: String,
    },
}

/// How the proxy edits a forwarded response (beyond the persona's headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseEdit {
    /// Headers only; the body streams through untouched.
    Headers,
    /// A `/version` reply: rewrite the versions in its JSON body ([`rewrite_version_json`]).
    VersionJson,
}

/// Decides what to do with a request, from its method and origin-form target.
///
/// * `/vX.Y/...` with X.Y older than the persona's minimum, or newer than its API
///   version: a 400 reply with Docker's message;
/// * `/vX.Y/...` in range: forwarded without the version prefix, so the backend
///   serves it at its own (default) version;
/// * anything else: forwarded as is.
///
/// `GET /version` (versioned or not) gets its JSON rewritten.
pub fn decide(persona: &Persona, method: &str, path_and_query: &str) -> Decision {
    let (path, query) = match path_and_query.find('?') {
        Some(at) => path_and_query.split_at(at),
        None => (path_and_query, ""),
    };
    let path = match split_version(path) {
        Some((version, rest)) => {
            if compare_versions(version, persona.min_api_version) == Ordering::Less {
                return Decision::Reply {
                    status: 400,
                    body: error_body(&format!(
                        "client version {version} is too old. Minimum supported API version is {}, \
                         please upgrade your client to a newer version",
                        persona.min_api_version
                    )),
                };
            }
            if compare_versions(version, persona.api_version) == Ordering::Greater {
                return Decision::Reply {
                    status: 400,
                    body: error_body(&format!(
                        "client version {version} is too new. Maximum supported API version is {}",
                        persona.api_version
                    )),
                };
            }
            rest
        }
        None => path,
    };
    let edit = if method.eq_ignore_ascii_case("GET") && path == "/version" {
        ResponseEdit::VersionJson
    } else {
        ResponseEdit::Headers
    };
    Decision::Forward {
        path_and_query: format!("{path}{query}"),
        edit,
    }
}

/// Splits `/v1.44/containers/json` into (`1.44`, `/containers/json`), as Docker's
/// router matches `/v{version:[0-9.]+}/...`; `None` for an unversioned path.
pub fn split_version(path: &str) -> Option<(&str, &str)> {
    let after_v = path.strip_prefix("/v")?;
    let slash = after_v.find('/')?;
    let version = &after_v[..slash];
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some((version, &after_v[slash..]))
}

/// Compares dotted API versions as Docker does (`api/types/versions`): component by
/// component as integers, a missing or unparsable component counting as 0.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => {
                let l = l.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                let r = r.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
                match l.cmp(&r) {
                    Ordering::Equal => {}
                    other => return other,
                }
            }
        }
    }
}

/// Docker's JSON error body: `{"message":"..."}` plus a newline.
pub fn error_body(message: &str) -> String {
    let mut body = serde_json::json!({ "message": message }).to_string();
    body.push('\n');
    body
}

/// Rewrites a `/version` reply in place: `Version`, `ApiVersion`, `MinAPIVersion`
/// at the top, and `Version`, `Details.ApiVersion`, `Details.MinAPIVersion` of the
/// `Engine` component. Fields the backend did not send are added at the top level
/// only. A body that is not a JSON object is left alone.
pub fn rewrite_version_json(persona: &Persona, body: &mut Value) {
    let Some(top) = body.as_object_mut() else {
        return;
    };
    top.insert("Version".into(), persona.engine_version.into());
    top.insert("ApiVersion".into(), persona.api_version.into());
    top.insert("MinAPIVersion".into(), persona.min_api_version.into());
    let Some(components) = top.get_mut("Components").and_then(Value::as_array_mut) else {
        return;
    };
    for component in components {
        let Some(component) = component.as_object_mut() else {
            continue;
        };
        if component.get("Name").and_then(Value::as_str) != Some("Engine") {
            continue;
        }
        component.insert("Version".into(), persona.engine_version.into());
        if let Some(details) = component.get_mut("Details").and_then(Value::as_object_mut) {
            details.insert("ApiVersion".into(), persona.api_version.into());
            details.insert("MinAPIVersion".into(), persona.min_api_version.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P: Persona = Persona::DOCKER_29;

    fn forward(path_and_query: &str, edit: ResponseEdit) -> Decision {
        Decision::Forward {
            path_and_query: path_and_query.into(),
            edit,
        }
    }

    #[test]
    fn too_old_is_refused_with_dockers_message() {
        assert_eq!(
            decide(&P, "GET", "/v1.41/containers/json?all=1"),
            Decision::Reply {
                status: 400,
                body:
                    "{\"message\":\"client version 1.41 is too old. Minimum supported API version \
                       is 1.44, please upgrade your client to a newer version\"}\n"
                        .into(),
            }
        );
        // Numeric, not lexical: 1.5 < 1.44.
        assert!(matches!(
            decide(&P, "GET", "/v1.5/_ping"),
            Decision::Reply { status: 400, .. }
        ));
        assert!(matches!(
            decide(&P, "POST", "/v1.43.9/containers/create"),
            Decision::Reply { status: 400, .. }
        ));
    }

    #[test]
    fn too_new_is_refused_with_dockers_message() {
        assert_eq!(
            decide(&P, "GET", "/v1.53/info"),
            Decision::Reply {
                status: 400,
                body: "{\"message\":\"client version 1.53 is too new. Maximum supported API \
                       version is 1.52\"}\n"
                    .into(),
            }
        );
        assert!(matches!(
            decide(&P, "GET", "/v2.0/info"),
            Decision::Reply { status: 400, .. }
        ));
    }

    #[test]
    fn in_range_is_forwarded_without_the_prefix() {
        for v in ["1.44", "1.47", "1.52", "1.52.0", "1.44.0"] {
            assert_eq!(
                decide(&P, "GET", &format!("/v{v}/containers/json?all=1&size=0")),
                forward("/containers/json?all=1&size=0", ResponseEdit::Headers),
                "version {v}"
            );
        }
        assert_eq!(
            decide(&P, "POST", "/v1.50/exec/abc/start"),
            forward("/exec/abc/start", ResponseEdit::Headers)
        );
        assert_eq!(
            decide(&P, "HEAD", "/v1.52/_ping"),
            forward("/_ping", ResponseEdit::Headers)
        );
    }

    #[test]
    fn unversioned_is_forwarded_as_is() {
        for target in [
            "/_ping",
            "/containers/json",
            "/events?since=1",
            "/",
            "/v1.44",   // no route after the version: not a versioned path
            "/vx/info", // not a version
            "/version2",
        ] {
            assert_eq!(
                decide(&P, "GET", target),
                forward(target, ResponseEdit::Headers),
                "{target}"
            );
        }
    }

    #[test]
    fn version_endpoint_is_rewritten() {
        assert_eq!(
            decide(&P, "GET", "/version"),
            forward("/version", ResponseEdit::VersionJson)
        );
        assert_eq!(
            decide(&P, "GET", "/v1.44/version"),
            forward("/version", ResponseEdit::VersionJson)
        );
        assert_eq!(
            decide(&P, "GET", "/v1.52/version?x=1"),
            forward("/version?x=1", ResponseEdit::VersionJson)
        );
        assert!(matches!(
            decide(&P, "GET", "/v1.41/version"),
            Decision::Reply { status: 400, .. }
        ));
        assert_eq!(
            decide(&P, "POST", "/version"),
            forward("/version", ResponseEdit::Headers)
        );
    }

    #[test]
    fn versions_compare_like_docker() {
        assert_eq!(compare_versions("1.44", "1.44"), Ordering::Equal);
        assert_eq!(compare_versions("1.44", "1.44.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.9", "1.10"), Ordering::Less);
        assert_eq!(compare_versions("2", "1.52"), Ordering::Greater);
        assert_eq!(compare_versions(".", "1.44"), Ordering::Less);
    }

    #[test]
    fn version_json_rewrite() {
        let mut body = json!({
            "Platform": {"Name": ""},
            "Components": [
                {"Name": "Engine", "Version": "20.10.24+dfsg1",
                 "Details": {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Os": "linux"}},
                {"Name": "containerd", "Version": "1.6.20", "Details": {"GitCommit": "x"}}
            ],
            "Version": "20.10.24+dfsg1",
            "ApiVersion": "1.41",
            "MinAPIVersion": "1.12",
            "Os": "linux"
        });
        rewrite_version_json(&P, &mut body);
        assert_eq!(body["Version"], "29.0.0");
        assert_eq!(body["ApiVersion"], "1.52");
        assert_eq!(body["MinAPIVersion"], "1.44");
        assert_eq!(body["Os"], "linux");
        assert_eq!(body["Components"][0]["Version"], "29.0.0");
        assert_eq!(body["Components"][0]["Details"]["ApiVersion"], "1.52");
        assert_eq!(body["Components"][0]["Details"]["MinAPIVersion"], "1.44");
        assert_eq!(body["Components"][0]["Details"]["Os"], "linux");
        assert_eq!(body["Components"][1]["Version"], "1.6.20");
        assert_eq!(body["Components"][1]["Details"], json!({"GitCommit": "x"}));

        let mut not_an_object = json!(["x"]);
        rewrite_version_json(&P, &mut not_an_object);
        assert_eq!(not_an_object, json!(["x"]));
    }
}
