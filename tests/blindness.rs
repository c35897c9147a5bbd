//! The blindness invariant: the gateway package `lockgate` never depends on `lockgate-e2e`,
//! in any dependency kind (normal, build or dev), directly or through another package.
//!
//! The gateway must be unable to read or forge lock traffic; keeping the end-to-end crate out
//! of its dependency graph makes that a property of the build, not of code review.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

const GATEWAY: &str = "lockgate";
const FORBIDDEN: &str = "lockgate-e2e";

/// Returns the dependency path from the gateway to the forbidden package, if there is one.
///
/// The gateway's own dependencies count in every kind; deeper ones count as normal and build
/// dependencies (a dependency's dev-dependencies are never built into the gateway).
fn path_to_forbidden(metadata: &Value) -> Result<Option<Vec<String>>, String> {
    let packages = metadata["packages"].as_array().ok_or("no packages")?;
    let names: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("no resolve graph")?;
    let deps: HashMap<&str, Vec<(&str, bool)>> = nodes
        .iter()
        .filter_map(|n| {
            let edges = n["deps"]
                .as_array()?
                .iter()
                .filter_map(|d| {
                    let kinds = d["dep_kinds"].as_array()?;
                    let non_dev = kinds.iter().any(|k| k["kind"].as_str() != Some("dev"));
                    Some((d["pkg"].as_str()?, non_dev))
                })
                .collect();
            Some((n["id"].as_str()?, edges))
        })
        .collect();
    let root = names
        .iter()
        .find(|(_, &name)| name == GATEWAY)
        .map(|(&id, _)| id)
        .ok_or("the gateway package is missing from the metadata")?;
    let mut stack = vec![(root, vec![GATEWAY.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((id, path)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for &(dep, non_dev) in deps.get(id).into_iter().flatten() {
            if id != root && !non_dev {
                continue;
            }
            let name = names.get(dep).copied().unwrap_or(dep);
            let mut next = path.clone();
            next.push(name.to_owned());
            if name == FORBIDDEN {
                return Ok(Some(next));
            }
            stack.push((dep, next));
        }
    }
    Ok(None)
}

#[test]
fn the_gateway_never_depends_on_the_end_to_end_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    assert!(
        metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == FORBIDDEN),
        "the end-to-end crate should be in the workspace, or this test proves nothing"
    );
    let path = path_to_forbidden(&metadata).expect("metadata has a resolve graph");
    assert_eq!(
        path, None,
        "blindness broken: the gateway reaches {FORBIDDEN}"
    );
}

fn fake_metadata(edges: &[(&str, &str, &str)]) -> Value {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (from, to, _) in edges {
        names.insert(from);
        names.insert(to);
    }
    let packages: Vec<Value> = names
        .iter()
        .map(|n| serde_json::json!({"id": format!("{n} 0.1.0"), "name": n}))
        .collect();
    let nodes: Vec<Value> =
        names
            .iter()
            .map(|n| {
                let deps: Vec<Value> = edges
                .iter()
                .filter(|(from, _, _)| from == n)
                .map(|(_, to, kind)| {
                    let kind = if *kind == "normal" { Value::Null } else { Value::from(*kind) };
                    serde_json::json!({"pkg": format!("{to} 0.1.0"), "dep_kinds": [{"kind": kind}]})
                })
                .collect();
                serde_json::json!({"id": format!("{n} 0.1.0"), "deps": deps})
            })
            .collect();
    serde_json::json!({"packages": packages, "resolve": {"nodes": nodes}})
}

#[test]
fn the_check_catches_every_kind_of_dependency() {
    for kind in ["normal", "build", "dev"] {
        let m = fake_metadata(&[
            (GATEWAY, "lockgate-wire", "normal"),
            (GATEWAY, FORBIDDEN, kind),
        ]);
        assert_eq!(
            path_to_forbidden(&m).unwrap(),
            Some(vec![GATEWAY.to_owned(), FORBIDDEN.to_owned()]),
            "{kind}"
        );
    }
}

#[test]
fn the_check_catches_a_transitive_dependency() {
    let m = fake_metadata(&[(GATEWAY, "helper", "dev"), ("helper", FORBIDDEN, "normal")]);
    assert_eq!(
        path_to_forbidden(&m).unwrap(),
        Some(vec![GATEWAY.into(), "helper".into(), FORBIDDEN.into()])
    );
    let clean = fake_metadata(&[
        (GATEWAY, "lockgate-wire", "normal"),
        ("other", FORBIDDEN, "normal"),
    ]);
    assert_eq!(path_to_forbidden(&clean).unwrap(), None);
}
