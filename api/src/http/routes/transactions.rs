use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::RawPath;
use crate::model::Transaction;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
}

#[utoipa::path(get, path = "/transactions/{id}", tag = "transactions", operation_id = "getTransaction",
    params(("id" = String, Path, description = "Transaction id (a UUID)")),
    responses(
        (status = 200, description = "The transaction", body = Transaction),
        (status = 400, description = "The path could not be read (not UTF-8)", body = ErrorBody),
        (status = 404, description = "No such transaction", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<crate::AppState>,
    principal: Principal,
    RawPath(id): RawPath,
) -> Result<Json<Transaction>, ApiError> {
    let not_found = || ApiError::not_found(format!("transaction {id:?} not found"));
    principal
        .may_act_for_some_customer(Scope::CustomersRead)
        .map_err(|_| auth::forbidden())?;
    // Ids are UUIDs; anything else cannot exist, so don't ask the store.
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| not_found())?
        .to_string();
    let txn = st.ddb.get_transaction(&id).await?.ok_or_else(not_found)?;
    // Another customer's transaction is answered as if it did not exist.
    auth::on_path(
        principal.may_act_for_customer(txn.user_id.0, Scope::CustomersRead),
        not_found,
    )?;
    Ok(Json(txn))
}
