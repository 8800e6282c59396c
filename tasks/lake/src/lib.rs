//! Mercado's pipeline: the logic behind every task binary (the tasks of `tasks/registry.toml`,
//! one module each in [`tasks`], run through [`entry`]).
//!
//! Every task works on one logical date and one zone of the lake bucket:
//! `raw/ → cleaned/ (+ quarantine/) → work/ → gold/`. A task writes its Parquet files under a
//! run-unique prefix and then publishes the partition's `_manifest.json`; readers read only what a
//! manifest lists, so a run that dies midway never shows a half-written partition
//! ([`lake::Lake::publish`]).

pub mod audit;
pub mod cleaning;
pub mod cli;
pub mod columnar;
pub mod contracts;
pub mod dq;
pub mod dynamo;
pub mod entry;
pub mod error;
pub mod iceberg;
pub mod lake;
pub mod manifest;
pub mod parquet_io;
pub mod partition;
pub mod pg_copy;
pub mod pg_copy_in;
pub mod reason;
pub mod rows;
pub mod shard;
pub mod spill;
pub mod star_schema;
pub mod summary;
pub mod tasks;
pub mod warehouse;

pub use error::LakeError;
pub use lake::Lake;
pub use partition::{Partition, Zone};
pub use summary::Summary;
