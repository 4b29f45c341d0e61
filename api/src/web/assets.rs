//! The pages' stylesheet, script and icon, compiled into the binary and served
//! under names that carry a hash of their content, so browsers may keep them
//! for a year and still see a new release at once. No CDN, no build step.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

struct Asset {
    path: String,
    body: &'static str,
    content_type: &'static str,
}

fn asset(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    Asset {
        path: format!("/assets/{stem}-{hash}.{ext}"),
        body,
        content_type,
    }
}

static CSS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "gavel",
        "css",
        include_str!("../../assets/gavel.css"),
        "text/css; charset=utf-8",
    )
});
static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "gavel",
        "js",
        include_str!("../../assets/gavel.js"),
        "text/javascript; charset=utf-8",
    )
});

static ICON: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "gavel",
        "svg",
        include_str!("../../assets/gavel.svg"),
        "image/svg+xml",
    )
});

/// Where the icon is served.
pub fn icon() -> &'static str {
    &ICON.path
}

/// Where the stylesheet is served.
pub fn css() -> &'static str {
    &CSS.path
}

/// Where the script is served.
pub fn js() -> &'static str {
    &JS.path
}

/// `GET /assets/{name}`: an asset by its hashed name, cached for a year.
pub async fn serve(Path(name): Path<String>) -> Response {
    let wanted = format!("/assets/{name}");
    match [&*CSS, &*JS, &*ICON].into_iter().find(|a| a.path == wanted) {
        Some(asset) => answer(asset, "public, max-age=31536000, immutable"),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `GET /favicon.ico`: the icon, for what asks there without reading the
/// page (its name is fixed, so it is kept for a day, not a year).
pub async fn favicon() -> Response {
    answer(&ICON, "public, max-age=86400")
}

fn answer(asset: &Asset, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.body,
    )
        .into_response()
}
