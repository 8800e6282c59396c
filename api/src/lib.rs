//! Mercado's OLTP API.
//!
//! Customers, vendors, categories and inventory live in PostgreSQL ([`pg`]); carts and checkout
//! transactions live in DynamoDB ([`dynamo`], key design in [`keys`]); vendor analytics read the
//! warehouse marts ([`warehouse`]). The binary in `main.rs` only parses flags and calls `run`;
//! tests build the same [`AppState`] and [`router`] in-process and drive them over HTTP.

pub mod config;
pub mod dynamo;
pub mod error;
pub mod extract;
pub mod migrate;
pub mod model;
pub mod openapi;
pub mod pg;
pub mod routes;
pub mod scenarios;
pub mod schemas;
pub mod server;
pub mod state;
pub mod traffic;
pub mod traffic_scenario;
pub mod warehouse;

/// The key design and regions are shared with the tasks: they live in `mercado-core`.
pub use mercado_core::{keys, regions};

pub use config::Config;
pub use server::{router, serve, shutdown_signal};
pub use state::AppState;
