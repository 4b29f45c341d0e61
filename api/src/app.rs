//! The whole HTTP application: routes, fallbacks and layers, and serving it with
//! graceful shutdown.

use std::{future::IntoFuture, net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, Any, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    error::{ApiError, panic_response},
    metrics, openapi, routes,
    state::{ApiConfig, AppState},
    web,
};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the application router for `state`.
pub fn router(state: AppState) -> Router {
    // Installed before the first request so nothing is recorded into the void.
    metrics::recorder();
    let api = Router::new()
        .merge(routes::admin::router())
        .merge(routes::refunds::router())
        .merge(routes::payouts::router())
        .merge(routes::cards::router())
        .merge(routes::watchlist::router())
        .merge(routes::payout_accounts::router())
        .merge(routes::notices::router())
        .merge(routes::auth::router())
        .merge(routes::auctions::router())
        .merge(routes::bids::router())
        .merge(routes::events::router())
        .merge(routes::images::router())
        .merge(routes::invoices::router())
        .merge(routes::sales::router())
        .merge(routes::saved_searches::router())
        .merge(routes::your_data::router())
        .merge(routes::webhooks::router())
        .merge(routes::health::router());
    let config = state.config.clone();
    let routes = Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::guarded))
        .route_layer(middleware::from_fn(metrics::track))
        .merge(openapi::docs_router())
        .merge(web::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    with_middleware(routes, &config)
}

/// Wraps `routes` in the layers every request passes: request id, tracing,
/// panic → JSON 500, CORS, limits on the head and body, and timeout.
pub fn with_middleware(routes: Router, config: &ApiConfig) -> Router {
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("http", method = %request.method(),
                        path = %request.uri().path(), request_id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors(&config.cors_origins))
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .layer(middleware::from_fn(limit_request_head))
        .layer(middleware::from_fn_with_state(
            config.request_timeout,
            enforce_timeout,
        ));

    routes.layer(layers)
}

/// Longest the server waits for open requests once shutting down: longer than
/// any request may take, shorter than an orchestrator's usual 30 s.
const DRAIN_GRACE: Duration = Duration::from_secs(20);

/// Serves `app` on `listener` until `closing` is cancelled, then drains
/// in-flight requests (live streams end at once, see [`AppState::closing`]).
/// Peers' addresses are available to handlers (login rate limits).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    closing: CancellationToken,
) -> std::io::Result<()> {
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(closing.clone().cancelled_owned())
    .into_future();
    // A client that never hangs up must not keep the process alive.
    let overdue = async {
        closing.cancelled().await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    tokio::select! {
        served = server => served,
        () = overdue => {
            tracing::warn!(grace = ?DRAIN_GRACE, "connections still open after the grace period; closing them");
            Ok(())
        }
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers(Any)
        .expose_headers([REQUEST_ID, HeaderName::from_static("retry-after")])
}

/// Largest request body, in bytes (photo uploads are read by a route of
/// their own, with their own limits).
pub const BODY_MAX: usize = 64 * 1024;
/// Longest path and query a request may have, in bytes.
pub const URI_MAX: usize = 8 * 1024;
/// Most header bytes (names and values) a request may carry.
pub const HEADERS_MAX: usize = 32 * 1024;

/// Refuses an oversized request head before any handler reads it.
async fn limit_request_head(request: Request, next: Next) -> Response {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri > URI_MAX {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the path and query may be at most {URI_MAX} bytes"),
        )
        .into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > HEADERS_MAX {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the headers may be at most {HEADERS_MAX} bytes in all"),
        )
        .into_response();
    }
    next.run(request).await
}

async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let streamed_body = streams_its_body(&request);
    let mut response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long; retry shortly",
            )
            .with_retry_after(1)
            .into_response();
            close_connection(&mut response);
            return response;
        }
    };
    if streamed_body && (response.status().is_client_error() || response.status().is_server_error())
    {
        close_connection(&mut response);
    }
    response
}

/// Whether `request` sends a body too big to have been read whole before a
/// refusal (photo uploads): a multipart form, a chunked body, or more than
/// [`BODY_MAX`] bytes.
fn streams_its_body(request: &Request) -> bool {
    let headers = request.headers();
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    let length = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let chunked = headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    multipart || chunked || length.is_some_and(|n| n > BODY_MAX)
}

/// Says `Connection: close` on a response given before its request's body was
/// read to the end. The server closes such a connection rather than read the
/// rest; without the header a client would return it to its pool and its next
/// request there would fail with a connection reset.
fn close_connection(response: &mut Response) {
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        HeaderValue::from_static("close"),
    );
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}
