//! Shared meaning of Mercado: what the API writes and the tasks read must agree on, in one place.
//! Depends on no service; the API and the tasks depend on it, never on each other.
//!
//! - [`keys`]: the DynamoDB key design (one table, its items and indexes, the day shards).
//! - [`regions`]: a vendor's region, an ISO 3166-1 alpha-2 code.
//! - [`email`]: what counts as a customer's e-mail address, and its stored form.
//! - [`money`]: exact amounts of two decimals.
//! - [`calendar`]: the warehouse's date keys.
//! - [`postgres`]: how every component connects to PostgreSQL (TLS when the URL asks for it).
//! - [`limits`]: the marketplace's limits (cart lines, quantity, amount), also as `core/limits.json`.
//! - [`rng`]: the one seedable pseudo-random generator of the synthetic data (traffic, raw files).

pub mod calendar;
pub mod email;
pub mod keys;
pub mod limits;
pub mod money;
pub mod postgres;
pub mod regions;
pub mod rng;
