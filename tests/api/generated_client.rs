//! The OpenAPI document as generated clients use it: it validates with
//! `openapi-spec-validator`, `openapi-python-client` turns every operation
//! into a function without a warning, and a short sale runs through that
//! generated client (`generated_client/short_sale.py`).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{expect_status, python_scripts_dir, python_tool, spawn_app};

/// A scratch folder for this test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gavel-generated-client-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// PATH with the Python scripts folder first: the generator runs `ruff`
/// from there on what it wrote.
fn path_with_python_scripts() -> std::ffi::OsString {
    let mut paths = vec![python_scripts_dir()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

/// `operationId`s of the document, one per operation.
fn operation_ids(spec: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    for item in spec["paths"].as_object().expect("paths").values() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if let Some(operation) = item.get(method) {
                ids.push(
                    operation["operationId"]
                        .as_str()
                        .unwrap_or("<missing>")
                        .to_owned(),
                );
            }
        }
    }
    ids
}

/// The operation modules of a generated client: `api/<tag>/<operation>.py`.
fn generated_operations(package: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for tag in std::fs::read_dir(package.join("api")).unwrap() {
        let tag = tag.unwrap().path();
        if !tag.is_dir() {
            continue;
        }
        for module in std::fs::read_dir(&tag).unwrap() {
            let module = module.unwrap().path();
            let stem = module.file_stem().unwrap().to_string_lossy().into_owned();
            if module.extension().is_some_and(|e| e == "py") && stem != "__init__" {
                found.push(stem);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_generated_python_client_has_every_operation_and_runs_a_sale() {
    let app = spawn_app().await;
    let spec = expect_status(app.get("/api/v1/openapi.json", None).await, StatusCode::OK).await;
    let scratch = Scratch::new();
    let document = scratch.0.join("openapi.json");
    std::fs::write(&document, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();

    run(
        Command::new(python_tool("openapi-spec-validator")).arg(&document),
        "openapi-spec-validator",
    );

    let package = scratch.0.join("gavel_client");
    let generated = run(
        Command::new(python_tool("openapi-python-client"))
            .args(["generate", "--meta", "none", "--path"])
            .arg(&document)
            .arg("--output-path")
            .arg(&package)
            .env("PATH", path_with_python_scripts())
            .current_dir(&scratch.0),
        "openapi-python-client",
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&generated.stdout),
        String::from_utf8_lossy(&generated.stderr)
    );
    assert!(
        !said.to_lowercase().contains("warning"),
        "the generator warned (it leaves such operations out):\n{said}"
    );
    let ids = operation_ids(&spec);
    let generated: BTreeSet<String> = generated_operations(&package).into_iter().collect();
    let expected: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        generated.len(),
        ids.len(),
        "one generated function per operation; generated {generated:?}, operations {ids:?}"
    );
    assert_eq!(
        generated, expected,
        "the functions are named by operationId"
    );

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/generated_client/short_sale.py");
    let api = format!("{}/api/v1", app.address);
    let db = secrecy::ExposeSecret::expose_secret(&app.db_url).to_owned();
    let sale = tokio::task::spawn_blocking(move || {
        run(
            Command::new("python3")
                .arg(&script)
                .env("GAVEL_API", api)
                .env("GAVEL_DB", db)
                .env("PYTHONPATH", &scratch.0)
                .current_dir(&scratch.0),
            "the short sale through the generated client",
        )
    })
    .await
    .unwrap();
    let seen: Value = serde_json::from_slice(
        sale.stdout
            .split(|b| *b == b'\n')
            .rfind(|line| !line.is_empty())
            .unwrap(),
    )
    .expect("the script's summary line");
    assert_eq!(seen["refusal"], "bid_too_low");
    assert_eq!(seen["status"], "awaiting_payment");
    // What the client saw is what was stored.
    let (total, buyer): (i64, uuid::Uuid) = sqlx::query_as(
        "SELECT total, buyer_id FROM invoices WHERE id = $1::uuid AND auction_id = $2::uuid",
    )
    .bind(seen["invoice_id"].as_str().unwrap())
    .bind(seen["auction_id"].as_str().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(total, 1_500);
    assert_eq!(buyer.to_string(), seen["buyer_id"].as_str().unwrap());
    // The account the client deleted is pseudonymised, its saved search gone.
    let (deleted, searches): (bool, i64) = sqlx::query_as(
        "SELECT u.deleted_at IS NOT NULL, (SELECT count(*) FROM saved_searches s
                                           WHERE s.id = $2::uuid)
         FROM users u WHERE u.id = $1::uuid",
    )
    .bind(seen["deleted_user_id"].as_str().unwrap())
    .bind(seen["saved_search_id"].as_str().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(deleted, "the account the client deleted");
    assert_eq!(searches, 0, "its saved search went with it");
}
