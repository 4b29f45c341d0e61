//! The auction house in the browser: server-rendered pages from askama
//! templates compiled into the binary (every value escaped), a stylesheet and
//! a script embedded and served by content hash, the session in an HttpOnly
//! cookie with CSRF checks on every form, and a Content-Security-Policy that
//! allows no inline script. The pages call the same service layer as the
//! JSON API ([`crate::service`]).

pub mod assets;
pub mod images;
pub mod money;
pub mod pages;
pub mod photo_forms;
pub mod photos;
pub mod session;
pub mod upload_body;
pub mod upload_reader;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, HeaderValue, header},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};

use crate::state::AppState;

/// What a page may load: only this origin's script, styles and images; no
/// framing; forms post only here.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    // A page may ask for less (a link's token in its address: none).
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    response
}

/// The pages, their form actions, assets and photos.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::index))
        .route("/saved-searches", post(pages::listing::save_search))
        .route("/auctions/{id}", get(pages::auction))
        .route("/auctions/{id}/bid", post(pages::bid))
        .route("/auctions/{id}/watch", post(pages::watch))
        .route("/auctions/{id}/unwatch", post(pages::unwatch))
        .route(
            "/auctions/{id}/photos",
            post(photo_forms::add).layer(DefaultBodyLimit::max(images::MAX_UPLOAD_BYTES)),
        )
        .route(
            "/auctions/{id}/photos/{photo}/cover",
            post(photo_forms::cover),
        )
        .route(
            "/auctions/{id}/photos/{photo}/remove",
            post(photo_forms::remove),
        )
        .route(
            "/sell",
            get(pages::sell_form)
                .post(pages::sell)
                .layer(DefaultBodyLimit::max(images::MAX_UPLOAD_BYTES)),
        )
        .route("/me", get(pages::me))
        .route("/me/seller", post(pages::become_seller))
        .route("/me/delete", post(pages::your_data::delete_account))
        .route(
            "/me/saved-searches/{id}/delete",
            post(pages::listing::delete_search),
        )
        .route("/me/export", get(pages::your_data::export))
        .route("/me/invoices/{id}/pay", post(pages::pay))
        .route("/me/cards/{id}/remove", post(pages::remove_card))
        .route("/me/payout-account", post(pages::payout_account::look_up))
        .route(
            "/me/payout-account/confirm",
            post(pages::payout_account::confirm),
        )
        .route(
            "/me/payout-account/cancel",
            post(pages::payout_account::cancel),
        )
        .route(
            "/me/payout-account/remove",
            post(pages::payout_account::remove),
        )
        .route("/me/preferences", post(pages::notices::save))
        .route("/me/invoices/{id}/accept", post(pages::accept))
        .route("/me/invoices/{id}/decline", post(pages::decline))
        .route("/me/sales/{id}/shipped", post(pages::sales::shipped))
        .route("/me/sales/{id}/received", post(pages::sales::received))
        .route("/me/sales/{id}/claim", post(pages::sales::claim))
        .route("/me/claims/{id}/answer", post(pages::sales::answer))
        .route("/payments/return", get(pages::payment_return))
        .route("/signup", get(pages::sign_up_form).post(pages::sign_up))
        .route("/signin", get(pages::sign_in_form).post(pages::sign_in))
        .route("/signout", post(pages::sign_out))
        .route(
            "/verify-email",
            get(pages::account_email::verify_email_form).post(pages::account_email::verify_email),
        )
        .route(
            "/me/verify-email/resend",
            post(pages::account_email::resend_verification),
        )
        .route(
            "/forgot-password",
            get(pages::account_email::forgot_password_form)
                .post(pages::account_email::forgot_password),
        )
        .route(
            "/reset-password",
            get(pages::account_email::reset_password_form)
                .post(pages::account_email::reset_password),
        )
        .route("/unsubscribe", get(pages::notices::unsubscribe_form))
        .route_layer(middleware::from_fn_with_state(state, session::ensure_csrf))
        // Outside the CSRF layer: a mail client's one-click POST comes from
        // no page of ours, and the link's signed token is what authorises it.
        .route("/unsubscribe", post(pages::notices::unsubscribe))
        .route("/assets/{name}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/images/{photo}/{file}", get(photos::serve))
        .layer(middleware::from_fn(security_headers))
}
