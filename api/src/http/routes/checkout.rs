use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::JsonBody;
use crate::model::{CheckoutReceipt, CheckoutRequest, FlexId, Money, Transaction, COMPLETED};
use crate::rules::pricing::{self, LineToPrice};
use crate::rules::{self, validate, MAX_INSTALLMENTS};
use crate::store::dynamo::{CheckoutWrite, IdempotencyWrite};
use crate::store::pg;
use crate::AppState;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
}

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Check out the user's cart: the stock of every line is taken in PostgreSQL (all or nothing),
/// then one atomic DynamoDB transaction writes the order and deletes the cart; if that write
/// fails the stock is given back. Lines are priced from inventory at this moment. With an
/// `Idempotency-Key`, a repeat of the same request returns the first result and writes nothing;
/// the key used for another request is refused (422).
#[utoipa::path(post, path = "/checkout", tag = "cart", operation_id = "checkout",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 visible ASCII characters; a repeat of the same request (same user_id and number_of_installments, as parsed) with the key, for a day, returns the first result and writes nothing; the key used with another request is a 422 (`idempotency_key_reused`)")),
    responses(
        (status = 200, description = "Transaction completed (or the first result of a repeated Idempotency-Key)", body = CheckoutReceipt),
        (status = 400, description = "Malformed JSON, an unreadable body or a bad Idempotency-Key (`field`: Idempotency-Key)", body = ErrorBody),
        (status = 409, description = "No open cart, or it changed or was checked out concurrently; or a line's item lacks stock (`code`: out_of_stock, `field`: cart[i].qty, i its index in GET /cart)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid; or the Idempotency-Key was already used (by this user, within a day) for another request (`code`: idempotency_key_reused, `field`: Idempotency-Key)", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn checkout(
    State(st): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    JsonBody(req): JsonBody<CheckoutRequest>,
) -> Result<Json<CheckoutReceipt>, ApiError> {
    auth::named(
        principal.may_act_for_customer(req.user_id.0, Scope::Checkout),
        "user_id",
    )?;
    let key = idempotency_key(&headers)?;
    let installments = validate::int_in(
        "number_of_installments",
        req.number_of_installments.unwrap_or(1),
        1,
        MAX_INSTALLMENTS,
    )?;
    let user = req.user_id;
    let digest = rules::checkout::request_digest(user, installments);
    // A repeated key answers with the first result, if it was for the same request. Checked
    // before any stock is taken, and again whenever the cart turns out to be gone or changed: a
    // concurrent request with the same key may have just checked it out.
    // The record's key includes the request's `user_id` (`IDEM#<user_id>#<key>`), so two users'
    // keys never meet; the token may act for that user only (checked above).
    let replay = || async {
        let Some(key) = key else {
            return Ok(None);
        };
        match st.ddb.get_idempotency(user, key).await? {
            None => Ok(None),
            Some(record) if record.request_digest.as_deref().is_none_or(|d| d == digest) => {
                Ok(Some(record.receipt))
            }
            Some(_) => Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "Idempotency-Key",
                "this Idempotency-Key was already used for another request; use a new key for a new request",
            )),
        }
    };
    if let Some(receipt) = replay().await? {
        return Ok(Json(receipt));
    }
    let Some((cart, version)) = st.ddb.get_cart(user).await? else {
        if let Some(receipt) = replay().await? {
            return Ok(Json(receipt));
        }
        if !pg::customer_exists(&st.pg, user).await? {
            return Err(ApiError::invalid(
                "user_id",
                format!("customer {user} does not exist"),
            ));
        }
        return Err(
            ApiError::conflict("no_cart", format!("user {user} has no open cart"))
                .with_field("user_id"),
        );
    };

    let ids: Vec<i64> = cart.cart.iter().map(|l| l.item_id.0).collect();
    let prices: HashMap<FlexId, Money> = pg::item_prices(&st.pg, &ids)
        .await?
        .into_iter()
        .map(|(id, _, price)| (id, price))
        .collect();
    let mut to_price = Vec::with_capacity(cart.cart.len());
    for l in &cart.cart {
        let unit_price = *prices.get(&l.item_id).ok_or_else(|| {
            ApiError::conflict(
                "item_gone",
                format!("item {} in the cart is no longer sold", l.item_id),
            )
        })?;
        to_price.push(LineToPrice {
            item_id: l.item_id,
            vendor_id: l.vendor_id,
            qty: l.qty,
            unit_price,
        });
    }
    let priced = pricing::price(to_price);
    let total = priced.total;
    let txn = Transaction {
        transaction_id: uuid::Uuid::now_v7().to_string(),
        user_id: user,
        lines: priced.transaction_lines(),
        total_price: total,
        installments,
        created_at: rules::now(),
    };
    let receipt = CheckoutReceipt {
        message: COMPLETED.to_string(),
        transaction_id: txn.transaction_id.clone(),
        total_price: txn.total_price,
        created_at: txn.created_at,
    };

    // Stock first, all lines or none: a line that lacks it is a 409 naming the line.
    let stock: Vec<(i64, i64)> = cart.cart.iter().map(|l| (l.item_id.0, l.qty)).collect();
    if let Err(short) = pg::take_stock(&st.pg, &stock).await? {
        let index = cart
            .cart
            .iter()
            .position(|l| l.item_id.0 == short)
            .unwrap_or_default();
        return Err(ApiError::conflict(
            "out_of_stock",
            format!("item {short} does not have the quantity of this line in stock"),
        )
        .with_field(format!("cart[{index}].qty")));
    }
    // From here until the DynamoDB write, a crash leaves the stock taken without an order (an
    // undersell, never an oversell); this line is how such stock is found (README, "How stock and
    // the DynamoDB transaction stay consistent").
    tracing::info!(transaction_id = %txn.transaction_id, user = %user, "stock taken");
    let idem = key.map(|key| IdempotencyWrite {
        key,
        request_digest: &digest,
        receipt: &receipt,
    });
    let written = match st.ddb.checkout(&txn, &version, idem).await {
        // No answer: ask whether the order was written before giving its stock back. If that
        // cannot be told either, the stock stays taken (an undersell, never an oversell) and the
        // client, told 503, retries with its key.
        Ok(CheckoutWrite::Unknown(e)) => match st.ddb.get_transaction(&txn.transaction_id).await {
            Ok(Some(_)) => Ok(CheckoutWrite::Written),
            Ok(None) => Err(e),
            Err(read) => {
                tracing::error!(transaction_id = %txn.transaction_id, error = %e, read = %read,
                    "checkout outcome unknown: stock kept taken");
                return Err(e.into());
            }
        },
        other => other,
    };
    if !matches!(written, Ok(CheckoutWrite::Written)) {
        // The order was not written: give the stock back before answering.
        if let Err(e) = pg::give_back_stock(&st.pg, &stock).await {
            tracing::error!(transaction_id = %txn.transaction_id, error = %e,
                "stock taken for a checkout that was not written could not be given back");
        }
    }
    match written? {
        CheckoutWrite::Written => {
            tracing::info!(transaction_id = %txn.transaction_id, user = %user, total = %total, "checkout");
            Ok(Json(receipt))
        }
        // Already resolved above.
        CheckoutWrite::Unknown(e) => Err(e.into()),
        CheckoutWrite::Conflict => {
            if let Some(first) = replay().await? {
                return Ok(Json(first));
            }
            Err(ApiError::conflict(
                "cart_changed",
                "the cart changed or was checked out by a concurrent request; read it again and retry",
            )
            .with_field("user_id"))
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "invalid_header",
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
        )
        .with_field("Idempotency-Key")
    };
    let key = value.to_str().map_err(|_| bad())?;
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key))
}
