//! The OpenAPI 3 document, generated from the handlers' annotations, and the
//! Swagger UI page that renders it. The UI's assets are compiled into the binary
//! (no CDN), so the docs work offline.

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{accounts, auth, error, routes, state::AppState};

pub const DOCS_PATH: &str = "/api/v1/docs";
pub const SPEC_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "Gavel API", version = "1", description = "Online auctions as durable Temporal workflows."),
    servers((url = "/api/v1")),
    paths(
        routes::auth::register, routes::auth::login, routes::auth::me,
        routes::health::health, routes::health::ready,
        routes::auctions::create, routes::auctions::list, routes::auctions::detail,
        routes::auctions::cancel, routes::bids::place_bid, routes::bids::bid_history,
        routes::events::events,
        routes::invoices::show, routes::invoices::mine, routes::invoices::pay,
        routes::invoices::accept, routes::invoices::decline,
        routes::invoices::mark_paid, routes::webhooks::paystack,
        routes::admin::payments, routes::admin::clear_strikes,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, accounts::User, auth::Role)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "auctions", description = "Auctions: each one a durable Temporal workflow"),
        (name = "bids", description = "Bidding, with proxy maximums"),
        (name = "payments", description = "Invoices, pay links, second-chance offers, Paystack webhooks"),
        (name = "admin", description = "The payment ledger and strikes (admins only)"),
        (name = "operations", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Serves the spec at [`SPEC_PATH`] and the interactive docs at [`DOCS_PATH`].
pub fn docs_router() -> Router<AppState> {
    SwaggerUi::new(DOCS_PATH)
        .url(SPEC_PATH, ApiDoc::openapi())
        .into()
}
