//! `/health` (the process answers) and `/ready` (its dependencies answer too).

use std::{borrow::Cow, time::Duration};

use axum::{Router, extract::State, routing::get};
use serde::{Deserialize, Serialize};
use serde_json::json;
use temporalio_common::protos::temporal::api::workflowservice::v1::GetSystemInfoRequest;
use utoipa::ToSchema;

use crate::{
    error::{ApiError, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    #[schema(example = "ok")]
    pub status: Cow<'static, str>,
}

#[utoipa::path(get, path = "/health", tag = "operations", operation_id = "get_health",
    responses((status = 200, body = Status, description = "the process is up")))]
pub async fn health() -> ApiJson<Status> {
    ApiJson(Status {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/ready", tag = "operations", operation_id = "get_readiness",
    responses(
        (status = 200, body = Status, description = "PostgreSQL and Temporal answer"),
        (status = 503, body = ErrorBody, description = "`not_ready`; `details` names what is down"),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<ApiJson<Status>, ApiError> {
    let (database, temporal) = tokio::join!(database_answers(&state), temporal_answers(&state));
    if database && temporal {
        return Ok(ApiJson(Status {
            status: "ready".into(),
        }));
    }
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    Err(ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        "a dependency is unavailable",
    )
    .with_details(json!({ "database": word(database), "temporal": word(temporal) }))
    .with_retry_after(2))
}

async fn database_answers(state: &AppState) -> bool {
    let probe = gavel_store::health::ping(&state.db);
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(_)))
}

async fn temporal_answers(state: &AppState) -> bool {
    let mut service = state.temporal.connection().workflow_service();
    let probe = service.get_system_info(tonic::Request::new(GetSystemInfoRequest::default()));
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(_)))
}
