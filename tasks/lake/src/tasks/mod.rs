//! The tasks, one module each; the binaries under `tasks/` only parse flags and call `run`.

pub mod clean;
pub mod enrich;
pub mod extract;
pub mod gold;
pub mod load_redshift;
pub mod marts;
pub mod reconcile;
