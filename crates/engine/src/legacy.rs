//! Requests rewritten for engines older than the client library: before
//! API 1.44 (Docker 25) an engine reads a container's MAC address only at
//! the top of the creation request, where the library no longer puts it;
//! maestro gives it per network endpoint, and moves it up for those.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bollard::models::ContainerCreateBody;
use bollard::BollardRequest;
use http_body_util::{Either, Full};
use hyper::body::{Body, Bytes};

/// The first MAC address of the request's network endpoints.
pub(crate) fn endpoint_mac(body: &ContainerCreateBody) -> Option<String> {
    body.networking_config
        .as_ref()?
        .endpoints_config
        .as_ref()?
        .values()
        .find_map(|e| e.mac_address.clone())
}

/// Whether an engine of `api` (`1.41`) needs the MAC address at the top.
pub(crate) fn needs_top_level_mac(api: &str) -> bool {
    crate::parse_version(api).is_some_and(|v| v < (1, 44))
}

/// The request with its endpoints' MAC address at the top of its JSON body
/// (a body that cannot be read at once is left as it is).
pub(crate) fn with_top_level_mac(request: BollardRequest) -> BollardRequest {
    let (parts, body) = request.into_parts();
    let Either::Left(mut full) = body else {
        return BollardRequest::from_parts(parts, body);
    };
    let mut cx = Context::from_waker(Waker::noop());
    let bytes = match Pin::new(&mut full).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().ok().map(|b: Bytes| b),
        _ => None,
    };
    let Some(bytes) = bytes else {
        return BollardRequest::from_parts(parts, Either::Left(full));
    };
    let data = mac_at_top(&bytes).map(Bytes::from).unwrap_or(bytes);
    BollardRequest::from_parts(parts, Either::Left(Full::new(data)))
}

/// The creation request `body` (JSON) with the first MAC address of its
/// network endpoints also at its top; `None` when it gives none (or is not
/// a JSON object).
pub(crate) fn mac_at_top(body: &[u8]) -> Option<Vec<u8>> {
    let serde_json::Value::Object(mut map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let mac = map
        .get("NetworkingConfig")?
        .get("EndpointsConfig")?
        .as_object()?
        .values()
        .find_map(|e| e.get("MacAddress")?.as_str().map(str::to_owned))?;
    map.insert("MacAddress".into(), serde_json::Value::from(mac));
    serde_json::to_vec(&map).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn the_mac_address_moves_to_the_top_for_engines_before_1_44() {
        assert!(needs_top_level_mac("1.41"));
        assert!(!needs_top_level_mac("1.44"));
        let body = br#"{"Image":"b","NetworkingConfig":{"EndpointsConfig":{"bridge":{"MacAddress":"02:42:ac:11:00:99"}}}}"#;
        let request = BollardRequest::new(Either::Left(Full::new(Bytes::from_static(body))));
        let rewritten = with_top_level_mac(request);
        let bytes = match rewritten.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => panic!("the body cannot be read: {e}"),
        };
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(json["MacAddress"], "02:42:ac:11:00:99");
        assert_eq!(json["Image"], "b");
        assert_eq!(
            json["NetworkingConfig"]["EndpointsConfig"]["bridge"]["MacAddress"],
            "02:42:ac:11:00:99"
        );
    }

    #[test]
    fn a_request_without_a_mac_address_is_left_as_it_is() {
        assert_eq!(mac_at_top(br#"{"Image":"b"}"#), None);
        let none = br#"{"NetworkingConfig":{"EndpointsConfig":{"bridge":{"Aliases":["a"]}}}}"#;
        assert_eq!(mac_at_top(none), None);
        assert_eq!(mac_at_top(b"[1]"), None);
    }
}
