//! Which credentials and retry policy go with an image: the environment's
//! `registries`, matched by name (`host[:port]`) or by their URL's host.

use maestro_config::{Environment, Registry, Retry};
use maestro_engine::DockerCredentials;

/// The registry host of an image (`host[:port]`), or `None` for Docker Hub
/// images (`busybox`, `team/app`).
pub fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

fn bare(host: &str) -> &str {
    host.split(':').next().unwrap_or(host)
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The `registries` entry for `image`, if any.
pub fn registry_for<'e>(env: &'e Environment, image: &str) -> Option<&'e Registry> {
    let host = registry_host(image)?;
    if let Some(r) = env.registries.get(host) {
        return Some(r);
    }
    env.registries.values().find(|r| {
        let h = url_host(&r.registry);
        !h.is_empty() && (h == host || bare(h) == bare(host))
    })
}

/// Credentials to send with a pull of `image`.
pub fn credentials_for(env: &Environment, image: &str) -> Option<DockerCredentials> {
    let r = registry_for(env, image)?;
    Some(DockerCredentials {
        username: r.username.clone(),
        password: r.password.as_ref().map(|p| p.expose().to_owned()),
        email: r.email.clone(),
        serveraddress: Some(r.registry.clone()),
        ..Default::default()
    })
}

/// The retry policy for pulls of `image`.
pub fn retry_for(env: &Environment, image: &str) -> Option<Retry> {
    registry_for(env, image).map(|r| r.retry.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_told_from_hub_names() {
        assert_eq!(registry_host("busybox"), None);
        assert_eq!(registry_host("team/app:1"), None);
        assert_eq!(
            registry_host("127.0.0.1:5000/team/box:1"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            registry_host("reg.example.com/app"),
            Some("reg.example.com")
        );
        assert_eq!(registry_host("localhost/app"), Some("localhost"));
        assert_eq!(
            url_host("https://reg.example.com:5000/v2/"),
            "reg.example.com:5000"
        );
    }
}
