//! The stores: PostgreSQL ([`pg`]), DynamoDB ([`dynamo`]), the warehouse ([`warehouse`]) and the
//! PostgreSQL migrations ([`migrate`]). Each raises its own error ([`pg::PgError`],
//! [`dynamo::StoreError`], [`warehouse::WarehouseError`]); the HTTP layer maps them to responses.

pub mod dynamo;
pub mod migrate;
pub mod pg;
pub mod warehouse;
