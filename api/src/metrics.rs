//! Prometheus metrics: request counts and latencies labelled by the matched
//! route template (never the raw URI, whose ids would explode cardinality).
//! Served on the API's address only to the bearer of `GAVEL_METRICS_TOKEN`,
//! or to anyone on the separate `GAVEL_METRICS_ADDR`.

use std::{sync::OnceLock, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::{error::ApiError, state::AppState};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide recorder, installed on first use.
pub fn recorder() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program); then
        // ours still renders what is recorded through it, which is nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics` on the API's address: for the configured token only.
pub async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.config.metrics_token else {
        return ApiError::not_found("not_found", "no such route").into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let matches: bool = given
        .as_bytes()
        .ct_eq(token.expose_secret().as_bytes())
        .into();
    if !matches {
        return ApiError::unauthorized(
            "unauthenticated",
            "`/metrics` needs `Authorization: Bearer <GAVEL_METRICS_TOKEN>`",
        )
        .into_response();
    }
    render().await
}

/// The router for the separate metrics address: `/metrics`, no token.
pub fn open_router() -> Router {
    recorder();
    Router::new().route("/metrics", get(render))
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder().render(),
    )
        .into_response()
}

/// Counts and times every routed request.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("gavel_http_requests_total", &labels).increment(1);
    metrics::histogram!("gavel_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
