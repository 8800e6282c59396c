use axum::extract::State;
use axum::Json;

use crate::error::{ApiError, ErrorBody};
use crate::model::Category;
use crate::pg;

/// The item categories (seeded by the migrations; 1 = General).
#[utoipa::path(get, path = "/categories", tag = "inventory", operation_id = "listCategories",
    responses(
        (status = 200, description = "All categories", body = [Category]),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn list(State(st): State<crate::AppState>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(pg::list_categories(&st.pg).await?))
}
