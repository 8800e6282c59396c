use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::rules::validate;
use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{IdPath, JsonBody, QueryParams};
use crate::model::{Customer, CustomerCreated, NewCustomer, TransactionPage};
use crate::store::pg;
use crate::http::state::AppState;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(read))
        .routes(routes!(transactions))
}

/// Register a customer. The email is stored lowercased and must be unique.
///
/// Sign-up is done by a service (scope `customers:write`). The reply carries the new customer's
/// first token when the API signs tokens itself (local use).
#[utoipa::path(post, path = "/customers", tag = "customers", operation_id = "createCustomer",
    request_body = NewCustomer,
    responses(
        (status = 201, description = "Created", body = CustomerCreated),
        (status = 400, description = "Malformed JSON or an unreadable body", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewCustomer>,
) -> Result<(StatusCode, Json<CustomerCreated>), ApiError> {
    principal
        .may(Scope::CustomersWrite)
        .map_err(|_| auth::forbidden())?;
    let first = validate::text("first_name", &body.first_name, 100)?;
    let last = validate::text("last_name", &body.last_name, 100)?;
    let email = validate::email(&body.email)?;
    let joined_at = auth::backdated(&principal, "joined_at", body.joined_at.as_deref())?;
    match pg::insert_customer(&st.pg, first, last, &email, joined_at).await? {
        Some(customer) => {
            let token = auth::first_token(&st, &Principal::Customer(customer.id.0))?;
            Ok((StatusCode::CREATED, Json(CustomerCreated { customer, token })))
        }
        None => Err(ApiError::conflict(
            "duplicate",
            format!("a customer with email {email} already exists"),
        )
        .with_field("email")),
    }
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers", operation_id = "getCustomer",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The customer", body = Customer),
        (status = 400, description = "The path could not be read (not UTF-8)", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<Json<Customer>, ApiError> {
    auth::on_path(
        principal.may_act_for_customer(id.0, Scope::CustomersRead),
        || ApiError::not_found(format!("customer {id} not found")),
    )?;
    pg::get_customer(&st.pg, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("customer {id} not found")))
}

/// A customer's transactions, newest first.
#[utoipa::path(get, path = "/customers/{id}/transactions", tag = "transactions",
    operation_id = "listCustomerTransactions",
    params(
        ("id" = String, Path, description = "Customer id"),
        ("limit" = Option<String>, Query, description = "Page size, 1 to 100 (default 20)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of transactions", body = TransactionPage),
        (status = 400, description = "The path or query string could not be read", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Bad limit or cursor", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn transactions(
    State(st): State<AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: QueryParams,
) -> Result<Json<TransactionPage>, ApiError> {
    auth::on_path(
        principal.may_act_for_customer(id.0, Scope::CustomersRead),
        || ApiError::not_found(format!("customer {id} not found")),
    )?;
    let limit = query.int_in("limit", 1, 100, 20)?;
    if !pg::customer_exists(&st.pg, id).await? {
        return Err(ApiError::not_found(format!("customer {id} not found")));
    }
    let page = st
        .ddb
        .user_transactions(id, limit as i32, query.text("cursor"))
        .await?
        .map_err(|_| {
            ApiError::invalid(
                "cursor",
                "cursor must be a next_cursor returned by this endpoint",
            )
        })?;
    Ok(Json(TransactionPage {
        transactions: page.0,
        next_cursor: page.1,
    }))
}
