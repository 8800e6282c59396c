use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{IdPath, JsonBody};
use crate::model::{Cart, CartRequest};
use crate::rules::pricing::{self, LineToPrice};
use crate::rules::{self, cart};
use crate::store::pg;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(replace))
        .routes(routes!(read))
}

/// Replace the user's cart. Prices come from inventory; client-sent prices are ignored.
///
/// Lines naming the same item are merged into one line (at the item's first position) whose
/// `qty` is their sum; the sum must still be at most 10000, else the line that takes it past the
/// limit is refused (`cart[i].qty`). A `vendor_id` given on any line must be the item's vendor.
#[utoipa::path(post, path = "/cart", tag = "cart", operation_id = "replaceCart",
    request_body = CartRequest,
    responses(
        (status = 200, description = "The stored cart, priced by the server; lines of one item merged", body = Cart),
        (status = 400, description = "Malformed JSON or an unreadable body", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "Unknown user or item, wrong vendor, bad qty (also over 10000 once an item's lines are summed), empty or oversized cart", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn replace(
    State(st): State<crate::AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<CartRequest>,
) -> Result<Json<Cart>, ApiError> {
    auth::named(
        principal.may_act_for_customer(req.user_id.0, Scope::CartsWrite),
        "user_id",
    )?;
    cart::check_line_count(&req.cart)?;
    let merged = cart::merge_lines(&req.cart)?;
    if !pg::customer_exists(&st.pg, req.user_id).await? {
        return Err(ApiError::invalid(
            "user_id",
            format!("customer {} does not exist", req.user_id),
        ));
    }
    let ids: Vec<i64> = merged.iter().map(|m| m.item_id.0).collect();
    let prices: HashMap<_, _> = pg::item_prices(&st.pg, &ids)
        .await?
        .into_iter()
        .map(|(id, vendor, price)| (id, (vendor, price)))
        .collect();
    // Every request line is checked, so an error names the line the client sent.
    for (i, line) in req.cart.iter().enumerate() {
        let Some(&(vendor_id, _)) = prices.get(&line.item_id) else {
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
    }
    let mut to_price = Vec::with_capacity(merged.len());
    for m in merged {
        let (vendor_id, unit_price) = prices
            .get(&m.item_id)
            .copied()
            .ok_or_else(|| ApiError::internal(format!("item {} lost its price", m.item_id)))?;
        to_price.push(LineToPrice {
            item_id: m.item_id,
            vendor_id,
            qty: m.qty,
            unit_price,
        });
    }
    let cart = Cart {
        user_id: req.user_id,
        cart: pricing::price(to_price).lines,
        updated_at: rules::now(),
    };
    st.ddb
        .put_cart(&cart, &uuid::Uuid::now_v7().to_string())
        .await?;
    Ok(Json(cart))
}

/// The user's open cart.
#[utoipa::path(get, path = "/cart/{user_id}", tag = "cart", operation_id = "getCart",
    params(("user_id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The open cart", body = Cart),
        (status = 400, description = "The path could not be read (not UTF-8)", body = ErrorBody),
        (status = 404, description = "The user has no open cart", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<crate::AppState>,
    principal: Principal,
    IdPath(user_id): IdPath,
) -> Result<Json<Cart>, ApiError> {
    auth::on_path(
        principal.may_act_for_customer(user_id.0, Scope::CartsRead),
        || ApiError::not_found(format!("user {user_id} has no open cart")),
    )?;
    st.ddb
        .get_cart(user_id)
        .await?
        .map(|(cart, _)| Json(cart))
        .ok_or_else(|| ApiError::not_found(format!("user {user_id} has no open cart")))
}
