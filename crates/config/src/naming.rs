//! How names become environment variable names: upper-cased, with every
//! character that is not a letter, digit or `_` turned into `_`. Shared with
//! the guest helpers so both sides agree.

/// `my-web.app` → `MY_WEB_APP`.
pub fn env_name(name: &str) -> String {
    if name.is_ascii() {
        return name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    char::from(b.to_ascii_uppercase())
                } else {
                    '_'
                }
            })
            .collect();
    }
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .flat_map(char::to_uppercase)
        .collect()
}

/// `<SERVICE>_<CONTAINER>_HOST`
pub fn host_var(service: &str, container: &str) -> String {
    format!("{}_{}_HOST", env_name(service), env_name(container))
}

/// `<SERVICE>_<CONTAINER>_<PORT>_PORT`
pub fn port_var(service: &str, container: &str, port: &str) -> String {
    format!(
        "{}_{}_{}_PORT",
        env_name(service),
        env_name(container),
        env_name(port)
    )
}

/// `<SERVICE>_<CONTAINER>_<PORT>_INTERNAL_PORT`
pub fn internal_port_var(service: &str, container: &str, port: &str) -> String {
    format!(
        "{}_{}_{}_INTERNAL_PORT",
        env_name(service),
        env_name(container),
        env_name(port)
    )
}

/// `<SERVICE>_INSTANCES`
pub fn instances_var(service: &str) -> String {
    format!("{}_INSTANCES", env_name(service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transliterates() {
        assert_eq!(env_name("my-web.app"), "MY_WEB_APP");
        assert_eq!(env_name("zk_1"), "ZK_1");
        assert_eq!(
            port_var("web", "web-1", "http.admin"),
            "WEB_WEB_1_HTTP_ADMIN_PORT"
        );
    }
}
