//! HTTP handlers, one module per resource. Paths are listed here once; `openapi.rs` documents them.

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub mod cart;
pub mod categories;
pub mod checkout;
pub mod customers;
pub mod docs;
pub mod health;
pub mod inventory;
pub mod transactions;
pub mod validate;
pub mod vendors;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/customers", post(customers::create))
        .route("/customers/{id}", get(customers::read))
        .route("/customers/{id}/transactions", get(customers::transactions))
        .route("/vendors", post(vendors::create))
        .route("/vendors/{id}", get(vendors::read))
        .route("/vendors/{id}/sales", get(vendors::sales))
        .route("/categories", get(categories::list))
        .route("/inventory", post(inventory::create).get(inventory::list))
        .route(
            "/inventory/{id}",
            get(inventory::read).patch(inventory::update),
        )
        .route("/cart", post(cart::replace))
        .route("/cart/{user_id}", get(cart::read))
        .route("/checkout", post(checkout::checkout))
        .route("/transactions/{id}", get(transactions::read))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
}
