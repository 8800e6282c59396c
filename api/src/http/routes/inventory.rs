use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::rules::validate;
use crate::http::auth::{self, Principal, Scope};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{IdPath, JsonBody, QueryParams};
use crate::model::{FlexId, Item, ItemPage, ItemPatch, Money, NewItem};
use crate::store::pg::{self, ItemRefusal, ItemValues};

/// This resource's handlers; each one's method and path are in its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update))
}

fn category_id(id: FlexId) -> Result<i32, ApiError> {
    i32::try_from(id.0).map_err(|_| unknown_category(id))
}

fn unknown_category(id: FlexId) -> ApiError {
    ApiError::invalid(
        "category",
        format!("category {id} does not exist; see GET /categories"),
    )
}

fn price(m: Money) -> Result<Money, ApiError> {
    m.validate_price()
        .map_err(|why| ApiError::invalid("price", format!("price {why}")))
}

fn stock(n: i64) -> Result<i32, ApiError> {
    Ok(validate::int_in("stock", n, 0, i64::from(i32::MAX))? as i32)
}

/// Add an item to a vendor's inventory.
#[utoipa::path(post, path = "/inventory", tag = "inventory", operation_id = "createItem",
    request_body = NewItem,
    params(("vendor_id" = String, Query, description = "The vendor selling the item")),
    responses(
        (status = 201, description = "Created", body = Item),
        (status = 400, description = "Malformed JSON, an unreadable body or query string", body = ErrorBody),
        (status = 404, description = "No such vendor (`field`: vendor_id)", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<crate::AppState>,
    principal: Principal,
    query: QueryParams,
    JsonBody(body): JsonBody<NewItem>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    let vendor_id = query
        .id("vendor_id")?
        .ok_or_else(|| ApiError::invalid("vendor_id", "query parameter vendor_id is required"))?;
    auth::named(
        principal.may_act_for_vendor(vendor_id.0, Scope::InventoryWrite),
        "vendor_id",
    )?;
    let values = ItemValues {
        item_name: Some(validate::text("item_name", &body.item_name, 200)?),
        category_id: Some(category_id(body.category)?),
        price: Some(price(body.price)?.0),
        stock: Some(stock(body.stock.unwrap_or(0))?),
    };
    let created_at = auth::backdated(&principal, "created_at", body.created_at.as_deref())?;
    match pg::insert_item(&st.pg, vendor_id, &values, created_at).await? {
        Ok(item) => Ok((StatusCode::CREATED, Json(item))),
        Err(ItemRefusal::UnknownVendor) => {
            Err(ApiError::not_found(format!("vendor {vendor_id} not found"))
                .with_field("vendor_id"))
        }
        Err(ItemRefusal::UnknownCategory) => Err(unknown_category(body.category)),
    }
}

/// Items ordered by id, optionally of one vendor; keyset-paginated.
#[utoipa::path(get, path = "/inventory", tag = "inventory", operation_id = "listItems",
    params(
        ("vendor_id" = Option<String>, Query, description = "Only this vendor's items"),
        ("limit" = Option<String>, Query, description = "Page size, 1 to 500 (default 50)"),
        ("after_id" = Option<String>, Query, description = "Items with a greater id: `next_after_id` of the previous page (default 0)"),
    ),
    responses(
        (status = 200, description = "A page of items", body = ItemPage),
        (status = 400, description = "The query string could not be read", body = ErrorBody),
        (status = 404, description = "No such vendor", body = ErrorBody),
        (status = 422, description = "A parameter is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<crate::AppState>,
    query: QueryParams,
) -> Result<Json<ItemPage>, ApiError> {
    let vendor_id = query.id("vendor_id")?;
    let limit = query.int_in("limit", 1, 500, 50)?;
    let after_id = query.int_in("after_id", 0, i64::MAX, 0)?;
    if let Some(v) = vendor_id {
        if pg::get_vendor(&st.pg, v).await?.is_none() {
            return Err(
                ApiError::not_found(format!("vendor {v} not found")).with_field("vendor_id")
            );
        }
    }
    let (items, more) = pg::list_items(&st.pg, vendor_id, after_id, limit).await?;
    let next_after_id = if more {
        items.last().map(|i| i.id.0)
    } else {
        None
    };
    Ok(Json(ItemPage {
        items,
        next_after_id,
    }))
}

#[utoipa::path(get, path = "/inventory/{id}", tag = "inventory", operation_id = "getItem",
    params(("id" = String, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = Item),
        (status = 400, description = "The path could not be read (not UTF-8)", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn read(
    State(st): State<crate::AppState>,
    IdPath(id): IdPath,
) -> Result<Json<Item>, ApiError> {
    pg::get_item(&st.pg, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("item {id} not found")))
}

/// Change an item's name, category, price or stock; `updated_at` moves.
#[utoipa::path(patch, path = "/inventory/{id}", tag = "inventory", operation_id = "updateItem",
    request_body = ItemPatch,
    params(("id" = String, Path, description = "Item id")),
    responses(
        (status = 200, description = "The updated item", body = Item),
        (status = 400, description = "Malformed JSON, an unreadable body or path", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<crate::AppState>,
    principal: Principal,
    IdPath(id): IdPath,
    JsonBody(patch): JsonBody<ItemPatch>,
) -> Result<Json<Item>, ApiError> {
    // Another vendor's item is answered as if it did not exist.
    let not_found = || ApiError::not_found(format!("item {id} not found"));
    principal
        .may_act_for_some_vendor(Scope::InventoryWrite)
        .map_err(|_| auth::forbidden())?;
    let owner = pg::get_item(&st.pg, id)
        .await?
        .ok_or_else(not_found)?
        .vendor_id;
    auth::on_path(
        principal.may_act_for_vendor(owner.0, Scope::InventoryWrite),
        not_found,
    )?;
    if patch.item_name.is_none()
        && patch.category.is_none()
        && patch.price.is_none()
        && patch.stock.is_none()
    {
        return Err(ApiError::invalid(
            "body",
            "give at least one of item_name, category, price, stock",
        ));
    }
    let values = ItemValues {
        item_name: patch
            .item_name
            .as_deref()
            .map(|n| validate::text("item_name", n, 200))
            .transpose()?,
        category_id: patch.category.map(category_id).transpose()?,
        price: patch.price.map(price).transpose()?.map(|m| m.0),
        stock: patch.stock.map(stock).transpose()?,
    };
    match pg::update_item(&st.pg, id, &values).await? {
        Ok(Some(item)) => Ok(Json(item)),
        Ok(None) => Err(ApiError::not_found(format!("item {id} not found"))),
        Err(_) => Err(patch
            .category
            .map_or_else(|| ApiError::internal("category refused"), unknown_category)),
    }
}
