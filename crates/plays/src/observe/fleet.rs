//! The engines of the ships a play touches: each connected once, on first
//! use, so an unreachable ship costs only its own timeout and never holds up
//! the containers of other ships.

use std::collections::HashMap;
use std::sync::Arc;

use maestro_config::Environment;
use maestro_engine::{Engine, EngineError};
use tokio::sync::{OnceCell, Semaphore};

/// A ship's engine, connected on first use.
type Connection = OnceCell<Result<Arc<Engine>, EngineError>>;

/// How many short engine calls a fleet keeps in flight at once, over all its
/// ships: enough to keep 200 ships busy (a layer of 250 containers looking
/// at their containers and images at once: `start` of 2,000 simulated
/// containers took 1.43 s with 512, 1.55 s with 256), few enough that a play
/// over thousands of containers does not hold a connection and its buffers
/// per container (start peaked at 117 MiB unbounded, 88 MiB with 512).
pub const CALLS_IN_FLIGHT: usize = 512;

/// Lazily connected engines, one per ship.
pub struct Fleet {
    ships: HashMap<String, (maestro_config::Ship, Connection)>,
    calls: Arc<Semaphore>,
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
            calls: Arc::new(Semaphore::new(CALLS_IN_FLIGHT)),
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
        cell.get_or_init(|| async {
            Engine::connect(spec)
                .await
                .map(|engine| Arc::new(engine.limit_calls(self.calls.clone())))
        })
        .await
        .clone()
    }
}
