//! Names put into the path of an engine request: every container, network,
//! volume and exec name is one path segment, whatever it holds. The client
//! library joins paths as URLs do, so a name like `x/../victim` would
//! otherwise address another container; here each name is percent-encoded,
//! and a name that is only dots (which URL resolution removes even when
//! encoded) or empty is refused before anything is sent.

use std::borrow::Cow;

use crate::{Engine, EngineError};

/// Bytes a path segment may hold as they are (RFC 3986's unreserved set).
pub(crate) fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// `name` percent-encoded so that it is exactly one path segment; `None`
/// when no encoding can keep it one (empty, `.` or `..`).
pub(crate) fn segment(name: &str) -> Option<Cow<'_, str>> {
    encode(name, unreserved)
}

/// An image reference as a path (`/images/{name}/json`, where the engine
/// takes `/` as part of the name): each `/`-separated part encoded as a
/// segment, `:` and `@` kept; `None` when a part is empty, `.` or `..`.
pub(crate) fn image(reference: &str) -> Option<Cow<'_, str>> {
    let keep = |b: u8| unreserved(b) || matches!(b, b':' | b'@');
    if reference
        .split('/')
        .all(|part| !part.is_empty() && part.bytes().all(keep) && !part.bytes().all(|b| b == b'.'))
    {
        return Some(Cow::Borrowed(reference));
    }
    let mut parts = Vec::new();
    for part in reference.split('/') {
        parts.push(encode(part, keep)?.into_owned());
    }
    Some(Cow::Owned(parts.join("/")))
}

fn encode(name: &str, keep: impl Fn(u8) -> bool) -> Option<Cow<'_, str>> {
    if name.is_empty() || name.bytes().all(|b| b == b'.') {
        return None;
    }
    Some(escaped(name, keep))
}

/// `text` with every byte that `keep` refuses percent-encoded.
pub(crate) fn escaped(text: &str, keep: impl Fn(u8) -> bool) -> Cow<'_, str> {
    if text.bytes().all(&keep) {
        return Cow::Borrowed(text);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
    Cow::Owned(out)
}

impl Engine {
    /// `name` as one path segment of a request that would `action`.
    pub(crate) fn segment<'n>(
        &self,
        action: &str,
        name: &'n str,
    ) -> Result<Cow<'n, str>, EngineError> {
        segment(name).ok_or_else(|| self.bad_name(action, name))
    }

    /// The image reference `name` as the path of a request that would `action`.
    pub(crate) fn image_path<'n>(
        &self,
        action: &str,
        name: &'n str,
    ) -> Result<Cow<'n, str>, EngineError> {
        image(name).ok_or_else(|| self.bad_name(action, name))
    }

    fn bad_name(&self, action: &str, name: &str) -> EngineError {
        EngineError::BadName {
            ship: self.ship.clone(),
            action: action.to_owned(),
            name: name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_always_one_segment() {
        assert_eq!(segment("web-1").as_deref(), Some("web-1"));
        assert_eq!(segment("a.b_c").as_deref(), Some("a.b_c"));
        assert_eq!(
            segment("x/../nc-victim").as_deref(),
            Some("x%2F..%2Fnc-victim")
        );
        assert_eq!(segment("a?b#c%").as_deref(), Some("a%3Fb%23c%25"));
        assert_eq!(segment("é").as_deref(), Some("%C3%A9"));
        assert_eq!(segment(".."), None);
        assert_eq!(segment("."), None);
        assert_eq!(segment(""), None);
    }

    #[test]
    fn an_image_keeps_its_slashes_but_no_dot_segment() {
        assert_eq!(
            image("localhost:5000/team/app:1.2").as_deref(),
            Some("localhost:5000/team/app:1.2")
        );
        assert_eq!(image("a@sha256:00").as_deref(), Some("a@sha256:00"));
        assert_eq!(image("a/../../containers/x"), None);
        assert_eq!(image("a//b"), None);
        assert_eq!(image("a b").as_deref(), Some("a%20b"));
        assert_eq!(image("app?x=1").as_deref(), Some("app%3Fx%3D1"));
    }

    /// What the client library sends for an encoded name: the URL it
    /// builds keeps the name in one segment (no `..` resolved).
    #[test]
    fn the_url_built_from_an_encoded_name_stays_in_its_segment() {
        let name = segment("x/../nc-victim")
            .map(Cow::into_owned)
            .unwrap_or_default();
        let base = format!("http://localhost/v1.41/containers/{name}/json");
        let url = url::Url::parse(&base).and_then(|u| u.join(&format!("/containers/{name}/json")));
        assert_eq!(
            url.map(|u| u.path().to_owned()),
            Ok("/containers/x%2F..%2Fnc-victim/json".to_owned())
        );
    }
}
