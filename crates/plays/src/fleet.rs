//! The engines of the ships a play touches: each connected once, on first
//! use, so an unreachable ship costs only its own timeout and never holds up
//! the containers of other ships.

use std::collections::HashMap;
use std::sync::Arc;

use maestro_config::Environment;
use maestro_engine::{Engine, EngineError};
use tokio::sync::OnceCell;

/// A ship's engine, connected on first use.
type Connection = OnceCell<Result<Arc<Engine>, EngineError>>;

/// Lazily connected engines, one per ship.
#[derive(Default)]
pub struct Fleet {
    ships: HashMap<String, (maestro_config::Ship, Connection)>,
}

impl Fleet {
    /// A fleet for every ship of `env` (nothing is connected yet).
    pub fn new(env: &Environment) -> Fleet {
        Fleet {
            ships: env
                .ships
                .iter()
                .map(|(name, ship)| (name.clone(), (ship.clone(), OnceCell::new())))
                .collect(),
        }
    }

    /// The engine of `ship`, connecting on first use.
    pub async fn engine(&self, ship: &str) -> Result<Arc<Engine>, EngineError> {
        let Some((spec, cell)) = self.ships.get(ship) else {
            return Err(EngineError::Config {
                ship: ship.to_owned(),
                message: "no such ship in the environment".into(),
            });
        };
        cell.get_or_init(|| async { Engine::connect(spec).await.map(Arc::new) })
            .await
            .clone()
    }
}
