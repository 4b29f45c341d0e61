//! Checks on the generated OpenAPI document that generated clients rely on:
//! every operation has its own name, and every parameter is where it is sent.

use std::collections::BTreeMap;

use utoipa::{
    OpenApi,
    openapi::path::{Operation, ParameterIn, PathItem},
};

use super::ApiDoc;

fn operations() -> Vec<(String, &'static str, Operation)> {
    let doc = ApiDoc::openapi();
    let mut all = Vec::new();
    for (path, item) in doc.paths.paths {
        let PathItem {
            get,
            put,
            post,
            delete,
            patch,
            ..
        } = item;
        for (method, operation) in [
            ("get", get),
            ("put", put),
            ("post", post),
            ("delete", delete),
            ("patch", patch),
        ] {
            if let Some(operation) = operation {
                all.push((path.clone(), method, operation));
            }
        }
    }
    all
}

#[test]
fn every_operation_has_its_own_operation_id() {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, method, operation) in operations() {
        let here = format!("{} {path}", method.to_uppercase());
        match operation.operation_id.as_deref() {
            None | Some("") => problems.push(format!("{here} has no operationId")),
            Some(id) => {
                if let Some(other) = seen.insert(id.to_owned(), here.clone()) {
                    problems.push(format!("{here} and {other} share operationId `{id}`"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn operation_ids_name_their_resource() {
    // A bare verb (`list`, `create`) says nothing in a generated client.
    for (path, method, operation) in operations() {
        let id = operation.operation_id.unwrap_or_default();
        assert!(
            id.contains('_'),
            "{} {path}: operationId `{id}` is a bare verb; name the resource too",
            method.to_uppercase()
        );
    }
}

#[test]
fn path_parameters_are_in_the_path_and_the_rest_are_not() {
    for (path, method, operation) in operations() {
        for parameter in operation.parameters.unwrap_or_default() {
            let in_template = path.contains(&format!("{{{}}}", parameter.name));
            let is_path = matches!(parameter.parameter_in, ParameterIn::Path);
            assert_eq!(
                is_path,
                in_template,
                "{} {path}: parameter `{}` is declared in {}",
                method.to_uppercase(),
                parameter.name,
                serde_json::to_string(&parameter.parameter_in).unwrap_or_default()
            );
        }
    }
}
