//! `docker-compose.yml` cannot run here (no container engine), so it is
//! checked against Gavel itself: every Gavel service runs a real `gavel`
//! command with environment variables that command reads, the API's port is
//! the one it listens on, Temporal is pinned to the version the tests run and
//! is not published, and the replicas can scale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use clap::CommandFactory;
use serde_yaml::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
        .unwrap();
    let mut compose: Value = serde_yaml::from_str(&text).expect("docker-compose.yml is YAML");
    // `<<: *gavel` merges the shared Gavel settings into each service.
    compose.apply_merge().unwrap();
    compose
}

fn services(compose: &Value) -> Vec<(String, &Value)> {
    compose["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_owned(), service))
        .collect()
}

fn is_gavel(service: &Value) -> bool {
    service.get("build").is_some()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The env names a `gavel` subcommand reads (its flags' twins and the global ones).
fn env_names(path: &[String]) -> BTreeSet<String> {
    let root = gavel::cli::Cli::command();
    let mut names: BTreeSet<String> = root
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let mut command = &root;
    for word in path {
        command = command
            .find_subcommand(word)
            .unwrap_or_else(|| panic!("`gavel {}` is not a command", path.join(" ")));
    }
    names.extend(
        command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned()),
    );
    names
}

#[test]
fn every_gavel_service_runs_a_real_command_with_settings_it_reads() {
    let compose = compose();
    let gavel: Vec<_> = services(&compose)
        .into_iter()
        .filter(|(_, s)| is_gavel(s))
        .collect();
    let names: BTreeSet<&str> = gavel.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["api", "migrate", "temporal-setup", "worker"])
    );
    for (name, service) in &gavel {
        let command = strings(&service["command"]);
        let known = env_names(&command);
        let environment = service["environment"].as_mapping().expect("environment");
        for key in environment.keys() {
            let key = key.as_str().unwrap();
            assert!(
                known.contains(key),
                "{name}: `gavel {}` reads no {key}",
                command.join(" ")
            );
        }
        assert_eq!(service["env_file"], Value::from(vec![".env"]), "{name}");
        assert!(service.get("container_name").is_none(), "{name} must scale");
    }
}

#[test]
fn the_api_publishes_the_port_it_listens_on_and_waits_for_its_dependencies() {
    let compose = compose();
    let api = &compose["services"]["api"];
    let addr = api["environment"]["GAVEL_HTTP_ADDR"].as_str().unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let published = strings(&api["ports"]);
    assert_eq!(published.len(), 1);
    assert!(
        published[0].ends_with(&format!(":{port}")),
        "{published:?} vs {addr}"
    );
    assert!(
        published[0].contains('-'),
        "a host port range, so replicas can scale: {published:?}"
    );
    assert!(
        strings(&api["healthcheck"]["test"])
            .iter()
            .any(|t| t.contains(&format!(":{port}/api/v1/ready")))
    );
    for service in ["api", "worker"] {
        let depends = &compose["services"][service]["depends_on"];
        for job in ["migrate", "temporal-setup"] {
            assert_eq!(
                depends[job]["condition"], "service_completed_successfully",
                "{service} waits for {job}"
            );
        }
    }
}

#[test]
fn temporal_is_pinned_to_the_tested_version_and_not_published() {
    let compose = compose();
    for (name, service) in services(&compose) {
        if let Some(image) = service.get("image").and_then(Value::as_str) {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest",
                "{name}: {image} is not pinned"
            );
        }
    }
    for name in ["temporal", "temporal-ui", "temporal-schema", "postgres"] {
        assert!(
            compose["services"][name].get("ports").is_none(),
            "{name} must not be published beyond the compose network"
        );
    }
    // The versions the tests run: `temporal --version` says
    // "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)".
    let cli = gavel::dev_server::find_cli().expect("the temporal CLI (scripts/setup installs it)");
    let output = std::process::Command::new(cli)
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&output.stdout).into_owned();
    let after = |marker: &str| {
        version
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.split([',', ')']).next())
            .unwrap_or_else(|| panic!("no {marker} in {version:?}"))
            .trim()
            .to_owned()
    };
    let (server, ui) = (after("Server "), after("UI "));
    let image = |name: &str| {
        compose["services"][name]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(image("temporal"), format!("temporalio/server:{server}"));
    assert_eq!(
        image("temporal-schema"),
        format!("temporalio/admin-tools:{server}")
    );
    assert_eq!(image("temporal-ui"), format!("temporalio/ui:{ui}"));
}

#[test]
fn every_variable_the_file_interpolates_is_documented_in_env_example() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml"))
        .unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
    let used: BTreeSet<&str> = text
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split([':', '}', '-', '?']).next())
        .collect();
    assert!(!used.is_empty());
    for name in used {
        assert!(
            example.lines().any(|l| l.starts_with(&format!("{name}="))),
            "{name} is used by docker-compose.yml but not in .env.example"
        );
    }
}

#[test]
fn the_dashboard_uses_only_metrics_gavel_records() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/grafana-gavel.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut source = String::new();
    for dir in [
        "api/src",
        "activities/src",
        "activities/paystack/src",
        "store/src",
    ] {
        for entry in walk(&std::path::Path::new(root).join(dir)) {
            source.push_str(&std::fs::read_to_string(entry).unwrap());
        }
    }
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("gavel_"))
        {
            // Histograms and counters are exported with suffixes.
            let base = ["_bucket", "_total"]
                .iter()
                .fold(name, |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
            assert!(
                source.contains(&format!("\"{base}")),
                "{} uses {name}, which nothing records",
                panel["title"]
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}
