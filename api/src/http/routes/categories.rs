use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, ErrorBody};
use crate::model::Category;
use crate::store::pg;

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
}

/// The item categories (seeded by the migrations; 1 = General).
#[utoipa::path(get, path = "/categories", tag = "inventory", operation_id = "listCategories",
    responses(
        (status = 200, description = "All categories", body = [Category]),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn list(State(st): State<crate::AppState>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(pg::list_categories(&st.pg).await?))
}
