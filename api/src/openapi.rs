//! The OpenAPI 3 document, generated from the handlers' annotations, and the
//! Swagger UI page that renders it. The UI's assets are compiled into the binary
//! (no CDN), so the docs work offline.

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, ResponseBuilder,
        path::{Operation, PathItem},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{accounts, auth, error, routes, state::AppState};

#[cfg(test)]
mod contract_tests;

pub const DOCS_PATH: &str = "/api/v1/docs";
pub const SPEC_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "Gavel API", version = "1", description = "Online auctions as durable Temporal workflows."),
    servers((url = "/api/v1")),
    paths(
        routes::auth::register, routes::auth::login, routes::auth::change_password,
        routes::auth::become_seller, routes::auth::logout,
        routes::auth::me,
        routes::auth::verify_email, routes::auth::resend_verification,
        routes::auth::request_password_reset, routes::auth::confirm_password_reset,
        routes::health::health, routes::health::ready,
        routes::auctions::create, routes::auctions::list, routes::auctions::detail,
        routes::auctions::cancel, routes::bids::place_bid, routes::bids::bid_history,
        routes::events::events, routes::images::list, routes::images::upload,
        routes::images::reorder, routes::images::remove,
        routes::invoices::show, routes::invoices::mine, routes::invoices::pay,
        routes::invoices::accept, routes::invoices::decline,
        routes::invoices::mark_paid, routes::webhooks::paystack,
        routes::admin::payments, routes::admin::clear_strikes, routes::admin::set_role,
        routes::refunds::create, routes::payouts::finalize, routes::cards::list, routes::cards::remove,
        routes::sales::show, routes::sales::shipped, routes::sales::received,
        routes::sales::open_claim, routes::sales::answer_claim, routes::sales::decide_claim,
        routes::sales::my_payouts, routes::sales::my_purchases, routes::sales::payouts,
        routes::payout_accounts::banks, routes::payout_accounts::show,
        routes::payout_accounts::look_up, routes::payout_accounts::confirm,
        routes::payout_accounts::cancel_pending, routes::payout_accounts::remove,
        routes::saved_searches::save, routes::saved_searches::list,
        routes::saved_searches::remove,
        routes::your_data::export, routes::your_data::remove,
        routes::watchlist::list, routes::watchlist::watch, routes::watchlist::unwatch,
        routes::notices::show, routes::notices::replace, routes::notices::unsubscribe,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, accounts::User, auth::Role)),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "auth", description = "Accounts and tokens, notice preferences and unsubscribe links"),
        (name = "auctions", description = "Auctions: each one a durable Temporal workflow"),
        (name = "bids", description = "Bidding, with proxy maximums"),
        (name = "payments", description = "Invoices, pay links, second-chance offers, Paystack webhooks"),
        (name = "sales", description = "A paid sale's journey: shipping, receipt, claims and the seller's payout"),
        (name = "admin", description = "The payment ledger, payouts, claims, strikes and roles (admins only)"),
        (name = "payouts", description = "The bank account a seller is paid into"),
        (name = "searches", description = "Saved searches and their daily digest of new lots"),
        (name = "watchlist", description = "Lots I watch, and their ending-soon emails"),
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

/// Answers any operation can give, whatever its own annotation lists: every
/// one in the one error shape. Listed so a client (or a fuzzer checking
/// responses against this document) knows them.
struct CommonResponses;

impl CommonResponses {
    fn add(operation: &mut Operation, status: &str, description: &str) {
        let error = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert(RefOr::T(error));
    }
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let PathItem {
                get,
                put,
                post,
                delete,
                patch,
                ..
            } = item;
            for operation in [get, put, post, delete, patch].into_iter().flatten() {
                let takes_input = operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                if takes_input {
                    Self::add(
                        operation,
                        "400",
                        "`malformed_json`, `invalid_path`, `invalid_query`: the request cannot be read",
                    );
                    Self::add(
                        operation,
                        "422",
                        "`invalid_body` and the operation's own codes: the request is readable but invalid",
                    );
                }
                if operation.request_body.is_some() {
                    Self::add(
                        operation,
                        "413",
                        "`payload_too_large`: the body is over the limit",
                    );
                    Self::add(
                        operation,
                        "415",
                        "`unsupported_media_type`: the body must be `application/json`",
                    );
                }
                if signed_in {
                    Self::add(
                        operation,
                        "401",
                        "`unauthenticated`, `invalid_token`, `token_expired`, `token_revoked`",
                    );
                    Self::add(operation, "403", "`forbidden`: your role may not do this");
                }
                Self::add(
                    operation,
                    "414",
                    "`uri_too_long`: the path and query are over 8 KiB",
                );
                Self::add(
                    operation,
                    "431",
                    "`headers_too_large`: the headers are over 32 KiB",
                );
                Self::add(
                    operation,
                    "503",
                    "`timeout`, `service_unavailable` (the database or Temporal is unavailable): retry after `Retry-After`",
                );
            }
        }
    }
}

/// Serves the spec at [`SPEC_PATH`] and the interactive docs at [`DOCS_PATH`].
pub fn docs_router() -> Router<AppState> {
    SwaggerUi::new(DOCS_PATH)
        .url(SPEC_PATH, ApiDoc::openapi())
        .into()
}
