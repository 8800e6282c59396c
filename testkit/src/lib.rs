//! Mercado's test support, one crate for every crate's integration tests (`tests/`, never unit
//! tests inside `src`: this crate depends on the API and the lake library, which dev-depend on it).
//!
//! - [`services`]: the local services' settings, names unique to a test, a database of its own;
//! - [`api`]: the API served in-process on its own database and table ([`api::TestApp`]);
//! - [`lake`]: [`lake::Env`], the API's harness plus a bucket, and the lake's fixtures;
//! - [`cli`]: the `mercado-task` binary and the contract every task keeps;
//! - [`cluster`]: a PostgreSQL cluster of one test only (to freeze it, or to serve it over TLS).

pub mod api;
pub mod cli;
pub mod cluster;
pub mod lake;
pub mod services;
