//! The previous container kept for a rollback: when `up` (or a `restart`
//! onto a new image) replaces a container, the old one is stopped and
//! renamed `NAME.previous` (keeping its labels, which still say which
//! instance of which environment it was), replacing the one kept before;
//! `rollback` trades the two back. Names only: no I/O here.

/// The suffix of a kept container's name.
pub const SUFFIX: &str = ".previous";

/// The name under which `name`'s previous container is kept.
pub fn kept_name(name: &str) -> String {
    format!("{name}{SUFFIX}")
}

/// The instance a kept container's name belongs to (`web-1.previous` ->
/// `web-1`); `None` for any other name.
pub fn instance_of(name: &str) -> Option<&str> {
    name.strip_suffix(SUFFIX).filter(|stem| !stem.is_empty())
}

/// The name a container has for a moment during a rollback, while its
/// previous one takes its name.
pub fn swapping_name(name: &str) -> String {
    format!("{name}.rollback")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_names_are_told_from_their_instance() {
        assert_eq!(kept_name("web-1"), "web-1.previous");
        assert_eq!(instance_of("web-1.previous"), Some("web-1"));
        assert_eq!(instance_of("web-1"), None);
        assert_eq!(instance_of(".previous"), None);
        assert_eq!(swapping_name("web-1"), "web-1.rollback");
    }
}
