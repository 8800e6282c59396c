use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, ErrorBody};
use crate::store::pg;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` (process up) or `ready` (both stores reachable).
    pub status: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "healthz",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// PostgreSQL and DynamoDB both answer.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "readyz",
    responses(
        (status = 200, description = "Both stores answer", body = Health),
        (status = 503, description = "A store is unreachable", body = ErrorBody),
    ))]
pub async fn readyz(State(st): State<crate::AppState>) -> Result<Json<Health>, ApiError> {
    let (pg, ddb) = tokio::join!(pg::ping(&st.pg), st.ddb.ping());
    let mut down = Vec::new();
    if let Err(e) = pg {
        down.push(format!("PostgreSQL: {e}"));
    }
    if let Err(e) = ddb {
        down.push(format!("DynamoDB: {e}"));
    }
    if down.is_empty() {
        Ok(Json(Health {
            status: "ready".into(),
        }))
    } else {
        Err(ApiError::unavailable(down.join("; ")))
    }
}
