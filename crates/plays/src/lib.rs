//! Plans and runs operations over the containers of an environment. For now:
//! turning the *things* named on the command line into the ordered list of
//! containers a play acts on.

pub mod selection;

pub use selection::{select, Direction, SelectError, Selection};
