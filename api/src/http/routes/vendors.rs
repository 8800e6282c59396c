use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::rules::{validate, MAX_SALES_DAYS};
use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{IdPath, JsonBody, QueryParams};
use crate::model::{NewVendor, Vendor, VendorCreated, VendorSales};
use crate::store::warehouse::{self, WarehouseError};
use crate::regions;
use crate::store::pg;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(read))
        .routes(routes!(sales))
}

/// Register a vendor. `region` is an ISO 3166-1 alpha-2 code, stored uppercase.
///
/// Sign-up is done by a service (scope `vendors:write`). The reply carries the new vendor's first
/// token when the API signs tokens itself (local use).
#[utoipa::path(post, path = "/vendors", tag = "vendors", operation_id = "createVendor",
    request_body = NewVendor,
    responses(
        (status = 201, description = "Created", body = VendorCreated),
        (status = 400, description = "Malformed JSON or an unreadable body", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<crate::AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewVendor>,
) -> Result<(StatusCode, Json<VendorCreated>), ApiError> {
    principal
        .may(Scope::VendorsWrite)
        .map_err(|_| auth::forbidden())?;
    let name = validate::text("vendor_name", &body.vendor_name, 200)?;
    let region = regions::normalize(&body.region).ok_or_else(|| {
        ApiError::invalid(
            "region",
            "region must be an ISO 3166-1 alpha-2 country code such as PT",
        )
    })?;
    let joined_at = auth::backdated(&principal, "joined_at", body.joined_at.as_deref())?;
    let vendor = pg::insert_vendor(&st.pg, name, &region, joined_at).await?;
    let token = auth::first_token(&st, &Principal::Vendor(vendor.id.0))?;
    Ok((StatusCode::CREATED, Json(VendorCreated { vendor, token })))
}

#[utoipa::path(get, path = "/vendors/{id}", tag = "vendors", operation_id = "getVendor",
    params(("id" = String, Path, description = "Vendor id")),
    responses(
        (status = 200, description = "The vendor", body = Vendor),
        (status = 400, description = "The path could not be read (not UTF-8)", body = ErrorBody),
        (status = 404, description = "No such vendor", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<crate::AppState>,
    principal: Principal,
    IdPath(id): IdPath,
) -> Result<Json<Vendor>, ApiError> {
    auth::on_path(
        principal.may_act_for_vendor(id.0, Scope::VendorsRead),
        || ApiError::not_found(format!("vendor {id} not found")),
    )?;
    pg::get_vendor(&st.pg, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("vendor {id} not found")))
}

/// A vendor's sales per day over a range of days, with totals and the top 10 items by revenue.
///
/// Read from the warehouse marts (`marts.vendors`, `marts.vendor_daily_sales`,
/// `marts.vendor_item_daily_sales`), so it covers what the daily pipeline has loaded, not the OLTP stores: a
/// vendor registered since the last load is 404 here until then. `from` and `to` are included; at
/// most 366 days. Every day of the range is listed, zeros for days without sales.
#[utoipa::path(get, path = "/vendors/{id}/sales", tag = "vendors", operation_id = "getVendorSales",
    params(
        ("id" = String, Path, description = "Vendor id"),
        ("from" = String, Query, description = "First day, `YYYY-MM-DD` (UTC); at most `to`"),
        ("to" = String, Query, description = "Last day, `YYYY-MM-DD` (UTC), included; at most 365 days after `from`"),
    ),
    responses(
        (status = 200, description = "The vendor's sales, day by day", body = VendorSales),
        (status = 400, description = "The path or query string could not be read", body = ErrorBody),
        (status = 404, description = "No such vendor in the warehouse", body = ErrorBody),
        (status = 422, description = "`from` or `to` missing or not a date (`field` names it), `from` after `to` (`from`), or a range over 366 days (`to`)", body = ErrorBody),
        (status = 503, description = "The warehouse is not configured (`warehouse_unavailable`) or does not answer", body = ErrorBody),
    ))]
pub async fn sales(
    State(st): State<crate::AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    query: QueryParams,
) -> Result<Json<VendorSales>, ApiError> {
    auth::on_path(
        principal.may_act_for_vendor(id.0, Scope::SalesRead),
        || ApiError::not_found(format!("vendor {id} not found in the warehouse")),
    )?;
    let from = validate::date("from", query.text("from"))?;
    let to = validate::date("to", query.text("to"))?;
    if from > to {
        return Err(ApiError::invalid("from", "from must not be after to"));
    }
    if (to - from).num_days() >= MAX_SALES_DAYS {
        return Err(ApiError::invalid(
            "to",
            format!("the range must be at most {MAX_SALES_DAYS} days, from and to included"),
        ));
    }
    let pool = st.warehouse.as_ref().ok_or_else(|| {
        ApiError::warehouse_unavailable("no warehouse is configured (WAREHOUSE_URL)")
    })?;
    match warehouse::vendor_sales(pool, id, from, to).await {
        Ok(Some(sales)) => Ok(Json(sales)),
        Ok(None) => Err(ApiError::not_found(format!(
            "vendor {id} not found in the warehouse (vendors appear there once loaded)"
        ))),
        Err(WarehouseError::Unavailable(m)) => Err(ApiError::warehouse_unavailable(format!(
            "warehouse unavailable: {m}"
        ))),
        Err(WarehouseError::Other(m)) => Err(ApiError::internal(m)),
    }
}
