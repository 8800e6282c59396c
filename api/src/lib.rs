//! Mercado's OLTP API, in layers that point one way:
//!
//! - [`http`]: the server (router, serve, shutdown), the error responses, the extractors, the
//!   OpenAPI document and the routes, one module per resource. Nothing else imports it.
//! - [`rules`]: the business rules (field validation, merging and pricing cart lines, the limits,
//!   the clock), with their own error ([`rules::FieldError`]).
//! - [`store`]: PostgreSQL ([`store::pg`]: customers, vendors, categories, inventory), DynamoDB
//!   ([`store::dynamo`]: carts and checkout transactions, key design in [`keys`]), the warehouse
//!   marts ([`store::warehouse`]: vendor analytics) and the migrations, each with its own error.
//! - [`model`]: the wire types and their JSON Schemas; it imports nothing of the crate above it.
//!
//! The binary in `main.rs` only parses flags and calls [`serve`]; tests build the same
//! [`AppState`] and [`router`] in-process and drive them over HTTP. `api/tests/layers.rs` fails
//! when a lower layer imports `http`.

pub mod config;
pub mod http;
pub mod model;
pub mod rules;
pub mod store;

/// The key design and regions are shared with the tasks: they live in `mercado-core`.
pub use mercado_core::{keys, regions};

pub use config::Config;
pub use http::server::{router, serve, shutdown_signal};
pub use http::state::AppState;
