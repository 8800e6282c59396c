//! HTTP handlers, one module per resource. A handler's `#[utoipa::path]` is the only place its
//! method and path are written: each module's `routes()` registers its handlers with
//! `utoipa_axum::routes!`, which builds both the router and the OpenAPI operations from it.
//!
//! Adding an endpoint: its handler (with `#[utoipa::path]`) in a resource's module and in that
//! module's `routes()`; a new resource is a new module, named once in the list below.

use utoipa_axum::router::OpenApiRouter;

use super::state::AppState;

/// Declares the resource modules and merges their routes, so each is named once.
macro_rules! resources {
    ($($module:ident,)*) => {
        $(pub mod $module;)*

        /// Every resource's routes, each with its OpenAPI operation.
        pub fn routes() -> OpenApiRouter<AppState> {
            OpenApiRouter::new()$(.merge($module::routes()))*
        }
    };
}

resources! {
    cart,
    categories,
    checkout,
    customers,
    docs,
    health,
    inventory,
    transactions,
    vendors,
}
