//! The worker is wired to a real Temporal server.

use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

use crate::helpers::spawn_app;

#[tokio::test]
async fn ping_workflow_round_trips_through_the_worker() {
    let app = spawn_app().await;
    let handle = app
        .temporal
        .start_workflow(
            gavel_workflows::ping::PingWorkflow::run,
            "hello".to_owned(),
            WorkflowStartOptions::new(
                app.task_queue.clone(),
                format!("ping-{}", uuid::Uuid::new_v4()),
            )
            .build(),
        )
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("the workflow finished")
    .unwrap();
    assert_eq!(answer, "pong: hello");
    crate::helpers::record_history(&handle, "ping").await;
}

#[tokio::test]
async fn registering_search_attributes_twice_is_harmless() {
    let app = spawn_app().await;
    gavel::temporal::ensure_search_attributes(&app.temporal)
        .await
        .unwrap();
    gavel::temporal::ensure_search_attributes(&app.temporal)
        .await
        .unwrap();
}
