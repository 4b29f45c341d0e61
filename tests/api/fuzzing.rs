//! Schemathesis over `/api/v1/openapi.json`, against the whole running app,
//! once per kind of caller (anonymous, bidder, seller, admin): no request may
//! get a 5xx, every answer must be documented and match its schema (the one
//! error shape included), and no caller may change what its role may not.
//! Bounded by examples per operation (a whole run is seconds per role); the
//! seed is fixed so a failure in CI replays the same way here.

use std::process::Command;

use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::{
    TestUser, auction_body, python_tool, settlement_args, spawn_app_with_settlement,
};

const SEED: &str = "20261202";

fn fuzz(api: &str, role: &str, token: Option<&str>) {
    let mut command = Command::new(python_tool("schemathesis"));
    command
        .arg("run")
        .arg(format!("{api}/api/v1/openapi.json"))
        .args(["--url", &format!("{api}/api/v1")])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--phases", "examples,coverage,fuzzing"])
        // Examples per operation; the whole run takes seconds per role.
        .args(["--max-examples", "25", "--seed", SEED])
        // One worker: with two, hypothesis parses its filters' source on two
        // threads and Python 3.11's `ast` can fail with "AST constructor
        // recursion depth mismatch" (a crash of the tool, not a finding).
        .args(["--workers", "1", "--request-timeout", "20"])
        // A live stream never ends: its own tests cover it.
        .args(["--exclude-path", "/auctions/{id}/events"])
        // Logging out would end the role's session for every later case:
        // `sessions.rs` covers it.
        .args(["--exclude-path", "/auth/logout"])
        .args(["--no-color", "--warnings", "off"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    // Its case cache goes to a scratch folder, not the checkout.
    let scratch = std::env::temp_dir().join(format!("gavel-fuzz-{role}-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let output = command
        .current_dir(&scratch)
        .output()
        .expect("run schemathesis");
    let _ = std::fs::remove_dir_all(&scratch);
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report.lines().rev().take(4).collect::<Vec<_>>().join(" | ");
    eprintln!("schemathesis as {role}: {summary}");
    assert!(
        output.status.success(),
        "schemathesis as {role} found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn every_operation_holds_up_under_fuzzing_as_every_role() {
    let mut settlement = settlement_args();
    // Webhooks need a key to be checked at all. Paystack is reached only for
    // the bank list and account lookups (no invoice exists to pay): a stand-in
    // answers those as Paystack does.
    settlement.paystack_secret_key = Some(SecretString::from("sk_test_fuzzing"));
    let paystack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/bank"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "status": true, "message": "Banks retrieved",
                "data": [{ "name": "Test Bank", "slug": "test-bank", "code": "001", "active": true,
                           "is_deleted": false, "country": "Nigeria", "currency": "NGN",
                           "type": "nuban", "id": 1 }],
                "meta": { "next": null, "previous": null, "perPage": 50 }
            })),
        )
        .mount(&paystack)
        .await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/bank/resolve"))
        .respond_with(
            wiremock::ResponseTemplate::new(422).set_body_json(serde_json::json!({
                "status": false,
                "message": "Could not resolve account name. Check parameters or try again."
            })),
        )
        .mount(&paystack)
        .await;
    settlement.paystack_base_url = paystack.uri();
    let app = spawn_app_with_settlement(settlement).await;
    let bidder = app.user("bidder").await;
    let seller = app.user("seller").await;
    let admin = app.admin().await;
    let lot = app.create_auction(&seller, &auction_body(3_600)).await;
    let roles_before = roles(&app.db).await;

    let run = |role: &'static str, user: Option<&TestUser>| {
        let address = app.address.clone();
        let token = user.map(|u| u.token.clone());
        tokio::task::spawn_blocking(move || fuzz(&address, role, token.as_deref()))
    };
    // After each caller, nothing it may not change has changed.
    run("anonymous", None).await.unwrap();
    run("bidder", Some(&bidder)).await.unwrap();
    let auction = app.auction(&lot.id.to_string()).await;
    assert_eq!(
        auction.status, "open",
        "only its seller or an admin cancels a lot"
    );
    roles_kept(&app.db, &roles_before, &[&bidder]).await;
    run("seller", Some(&seller)).await.unwrap();
    roles_kept(&app.db, &roles_before, &[&bidder, &seller]).await;
    let foreign_auctions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM auctions a JOIN users u ON u.id = a.seller_id
         WHERE u.role NOT IN ('seller', 'admin')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(foreign_auctions, 0, "only sellers sell");
    run("admin", Some(&admin)).await.unwrap();
    let money: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        money, 0,
        "no payment was recorded (there was nothing to pay)"
    );
    // And the app still serves its users (the fuzzed ones may have been
    // made sellers or demoted, revoking their tokens).
    let newcomer = app.user("bidder").await;
    assert_eq!(app.me(&newcomer.token).await.status(), StatusCode::OK);
}

/// Only admins change others' roles; the fuzzed `callers` may only have
/// made themselves sellers (`POST /auth/seller`). Anyone may make a new
/// account meanwhile.
async fn roles_kept(db: &sqlx::PgPool, before: &[(uuid::Uuid, String)], callers: &[&TestUser]) {
    let now = roles(db).await;
    for (id, role) in before {
        let current = now.iter().find(|(i, _)| i == id).map(|(_, r)| r.as_str());
        let own_upgrade = callers.iter().any(|c| c.id == id.to_string())
            && role == "bidder"
            && current == Some("seller");
        assert!(
            current == Some(role.as_str()) || own_upgrade,
            "user {id}'s role changed from {role} to {current:?}"
        );
    }
}

async fn roles(db: &sqlx::PgPool) -> Vec<(uuid::Uuid, String)> {
    sqlx::query_as("SELECT id, role FROM users ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap()
}
