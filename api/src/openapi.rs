//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations.

use std::sync::OnceLock;

use utoipa::OpenApi;

use crate::error::{ErrorBody, ErrorDetail};
use crate::model::*;
use crate::routes::{
    cart, categories, checkout, customers, health, inventory, transactions, vendors,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Mercado API",
        description = "Customers, vendors and inventory (PostgreSQL); carts and checkout (DynamoDB).\n\n\
            Every path also answers with a trailing slash. Ids in bodies may be JSON numbers or numeric \
            strings. Unknown fields are ignored. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`."
    ),
    paths(
        customers::create, customers::read, customers::transactions,
        vendors::create, vendors::read,
        categories::list,
        inventory::create, inventory::list, inventory::read, inventory::update,
        cart::replace, cart::read, checkout::checkout,
        transactions::read,
        health::healthz, health::readyz,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, FlexId, Money, NewCustomer, Customer, NewVendor, Vendor, Category,
        NewItem, ItemPatch, Item, ItemPage, CartRequest, CartLineRequest, CartLine, Cart,
        CheckoutRequest, CheckoutReceipt, Transaction, TransactionLine, TransactionPage, health::Health,
    )),
    tags(
        (name = "customers"), (name = "vendors"), (name = "inventory"),
        (name = "cart", description = "Carts and checkout"), (name = "transactions"), (name = "health"),
    )
)]
pub struct ApiDoc;

/// The document as JSON text, built once.
pub fn document_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!(r#"{{"error": "cannot render OpenAPI: {e}"}}"#))
    })
}
