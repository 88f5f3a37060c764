//! Caddy as maestro's proxy, one per ship: what a service's `proxy:` asks
//! for ([`Route`]), the complete Caddy JSON config the routes make
//! ([`render`]), and a running proxy container driven through its admin API
//! without publishing it ([`Admin`]: the config file put into the container
//! through the engine's archive API, `caddy reload` run there by an exec;
//! the upstreams read back the same way). Only engine API calls, so it works
//! over every transport a ship can use. Knows nothing of terminals, plays or
//! environment files.

mod admin;
mod error;
mod render;
mod route;

pub use admin::{Admin, Applied, UpstreamStatus, ADMIN_ADDRESS, CONFIG_PATH};
pub use error::ProxyError;
pub use render::render;
pub use route::{Health, Listen, ProxyConfig, Route, Tls, Upstream};
