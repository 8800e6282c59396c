use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use rust_decimal::Decimal;

use super::validate;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IdPath, JsonBody};
use crate::model::{Cart, CartLine, CartRequest, Money};
use crate::pg;

/// Most lines a cart may hold.
pub const MAX_LINES: usize = 100;
/// Largest quantity of one line.
pub const MAX_QTY: i64 = 10_000;

/// Replace the user's cart. Prices come from inventory; client-sent prices are ignored.
#[utoipa::path(post, path = "/cart", tag = "cart", request_body = CartRequest,
    responses(
        (status = 200, description = "The stored cart, priced by the server", body = Cart),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "Unknown user or item, wrong vendor, bad qty, empty or oversized cart", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn replace(
    State(st): State<crate::AppState>,
    JsonBody(req): JsonBody<CartRequest>,
) -> Result<Json<Cart>, ApiError> {
    if req.cart.is_empty() {
        return Err(ApiError::invalid(
            "cart",
            "cart must have at least one line",
        ));
    }
    if req.cart.len() > MAX_LINES {
        return Err(ApiError::invalid(
            "cart",
            format!("cart must have at most {MAX_LINES} lines"),
        ));
    }
    let mut seen = HashMap::new();
    for (i, line) in req.cart.iter().enumerate() {
        validate::int_in(&format!("cart[{i}].qty"), line.qty, 1, MAX_QTY)?;
        if let Some(first) = seen.insert(line.item_id, i) {
            return Err(ApiError::invalid(
                format!("cart[{i}].item_id"),
                format!(
                    "item {} is already in cart[{first}]; put the total qty on one line",
                    line.item_id
                ),
            ));
        }
    }
    if !pg::customer_exists(&st.pg, req.user_id).await? {
        return Err(ApiError::invalid(
            "user_id",
            format!("customer {} does not exist", req.user_id),
        ));
    }
    let ids: Vec<i64> = req.cart.iter().map(|l| l.item_id.0).collect();
    let prices: HashMap<_, _> = pg::item_prices(&st.pg, &ids)
        .await?
        .into_iter()
        .map(|(id, vendor, price)| (id, (vendor, price)))
        .collect();
    let mut lines = Vec::with_capacity(req.cart.len());
    for (i, line) in req.cart.iter().enumerate() {
        let Some(&(vendor_id, unit_price)) = prices.get(&line.item_id) else {
            return Err(ApiError::invalid(
                format!("cart[{i}].item_id"),
                format!("item {} does not exist", line.item_id),
            ));
        };
        if line.vendor_id.is_some_and(|v| v != vendor_id) {
            return Err(ApiError::invalid(
                format!("cart[{i}].vendor_id"),
                format!("item {} is sold by vendor {vendor_id}", line.item_id),
            ));
        }
        lines.push(CartLine {
            item_id: line.item_id,
            vendor_id,
            qty: line.qty,
            unit_price,
            total_price: line_total(unit_price, line.qty),
        });
    }
    let cart = Cart {
        user_id: req.user_id,
        cart: lines,
        updated_at: crate::dynamo::now(),
    };
    st.ddb
        .put_cart(&cart, &uuid::Uuid::now_v7().to_string())
        .await?;
    Ok(Json(cart))
}

/// `unit_price × qty`, exact.
pub fn line_total(unit_price: Money, qty: i64) -> Money {
    Money::normalized(unit_price.0 * Decimal::from(qty))
}

/// The user's open cart.
#[utoipa::path(get, path = "/cart/{user_id}", tag = "cart",
    params(("user_id" = i64, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The open cart", body = Cart),
        (status = 404, description = "The user has no open cart", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<crate::AppState>,
    IdPath(user_id): IdPath,
) -> Result<Json<Cart>, ApiError> {
    st.ddb
        .get_cart(user_id)
        .await?
        .map(|(cart, _)| Json(cart))
        .ok_or_else(|| ApiError::not_found(format!("user {user_id} has no open cart")))
}
