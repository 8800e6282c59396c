use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::validate;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IdPath, JsonBody};
use crate::model::{NewVendor, Vendor};
use crate::{pg, regions};

/// Register a vendor. `region` is an ISO 3166-1 alpha-2 code, stored uppercase.
#[utoipa::path(post, path = "/vendors", tag = "vendors", operation_id = "createVendor",
    request_body = NewVendor,
    responses(
        (status = 201, description = "Created", body = Vendor),
        (status = 400, description = "Malformed JSON or an unreadable body", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<crate::AppState>,
    JsonBody(body): JsonBody<NewVendor>,
) -> Result<(StatusCode, Json<Vendor>), ApiError> {
    let name = validate::text("vendor_name", &body.vendor_name, 200)?;
    let region = regions::normalize(&body.region).ok_or_else(|| {
        ApiError::invalid(
            "region",
            "region must be an ISO 3166-1 alpha-2 country code such as PT",
        )
    })?;
    let vendor = pg::insert_vendor(&st.pg, name, &region).await?;
    Ok((StatusCode::CREATED, Json(vendor)))
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
    IdPath(id): IdPath,
) -> Result<Json<Vendor>, ApiError> {
    pg::get_vendor(&st.pg, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("vendor {id} not found")))
}
