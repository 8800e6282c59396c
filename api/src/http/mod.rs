//! The HTTP layer: the server, its error responses, the extractors, the OpenAPI document and the
//! routes. It calls [`crate::rules`] and [`crate::store`] and maps their errors to responses;
//! neither imports it.

pub mod auth;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod state;

#[cfg(test)]
mod schemas_tests;
