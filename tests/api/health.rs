//! Liveness, readiness, metrics and the API docs.

use reqwest::StatusCode;
use secrecy::ExposeSecret;

use gavel_api::routes::health::Status;

use crate::helpers::{
    METRICS_TOKEN, expect_error, expect_json, expect_status, settlement_args, shared_temporal,
    spawn_api_only, spawn_app,
};

#[tokio::test]
async fn health_and_ready_answer_when_dependencies_are_up() {
    let app = spawn_app().await;
    let body: Status = expect_json(app.get("/api/v1/health", None).await, StatusCode::OK).await;
    assert_eq!(body.status, "ok");
    let body: Status = expect_json(app.get("/api/v1/ready", None).await, StatusCode::OK).await;
    assert_eq!(body.status, "ready");
}

#[tokio::test]
async fn ready_is_503_with_details_when_the_database_is_gone() {
    // The API alone: a worker would (rightly) fail without its database.
    let app = spawn_api_only(shared_temporal(), settlement_args()).await;
    let name = app
        .db_url
        .expose_secret()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
    .await
    .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let response = app.get("/api/v1/ready", None).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = expect_error(response, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    assert_eq!(
        body.error.details.as_ref().unwrap()["database"],
        "unavailable"
    );
    assert_eq!(body.error.details.as_ref().unwrap()["temporal"], "ok");
    // Health only says the process is up.
    expect_status(app.get("/api/v1/health", None).await, StatusCode::OK).await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    app.get("/api/v1/health", None).await;
    // Only the bearer of GAVEL_METRICS_TOKEN reads them on the API's address.
    expect_error(
        app.get("/metrics", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    expect_error(
        app.get("/metrics", Some("a-wrong-token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let response = app.get("/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("gavel_http_requests_total")
                && l.contains(r#"route="/api/v1/health""#)
                && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(text.contains("gavel_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn openapi_document_and_offline_docs_are_served() {
    let app = spawn_app().await;
    let spec = expect_status(app.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/me",
        "/health",
        "/ready",
    ] {
        assert!(spec["paths"][path].is_object(), "missing {path}");
    }
    let page = app.get("/api/v1/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page must not load assets from a CDN"
    );
    let bundle = app.get("/api/v1/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(
        bundle.status(),
        StatusCode::OK,
        "the UI's assets are served locally"
    );
}

#[tokio::test]
async fn a_worker_serves_the_sdks_metrics_and_gavels_own() {
    let settlement = settlement_args();
    let app = spawn_api_only(shared_temporal(), settlement.clone()).await;
    let port = gavel::dev_server::free_port().unwrap();
    let worker = crate::helpers::WorkerProcess::spawn_with(
        &app,
        &settlement,
        &[
            ("GAVEL_WORKER_METRICS_ADDR", format!("127.0.0.1:{port}")),
            ("GAVEL_LOG_FORMAT", "json".to_owned()),
        ],
    );
    let (_seller, [], auction) = app.scene(&crate::helpers::auction_body(1)).await;
    app.wait_for_status(&auction.id.to_string(), "no_sale", 30)
        .await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = crate::helpers::eventually(30, || async {
        let text = reqwest::get(&url)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let wanted = [
            "gavel_auctions_finished_total{status=\"no_sale\"} 1",
            "temporal_workflow_task_execution_latency",
            "temporal_workflow_task_schedule_to_start_latency",
            "temporal_sticky_cache_size",
        ];
        if wanted.iter().all(|w| text.contains(w)) {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    assert!(!text.is_empty());

    // Its JSON log lines name the workflow and the auction they concern.
    let id = auction.id.to_string();
    let line = crate::helpers::eventually(20, || async {
        let log = std::fs::read_to_string(&worker.log).unwrap();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["job.auction_id"] == id.as_str() || l["auction_id"] == id.as_str())
            .ok_or_else(|| format!("no JSON line names auction {id}:\n{log}"))
    })
    .await;
    assert_eq!(
        line["span"]["temporalWorkflowID"],
        format!("auction-{id}"),
        "{line}"
    );
}
