//! The architecture's boundaries, read from the crates' manifests (docs/architecture.md).

use std::collections::BTreeMap;
use std::path::Path;

/// Every crate under crates/ with the names of its normal (non-dev) dependencies.
fn crates() -> BTreeMap<String, Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut crates = BTreeMap::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        crates.insert(name, deps);
    }
    crates
}

#[test]
fn only_the_aws_crate_links_the_sdk_in_production() {
    for (name, deps) in crates() {
        let sdk: Vec<_> = deps
            .iter()
            .filter(|d| {
                d.starts_with("aws-sdk-")
                    || d.starts_with("aws-config")
                    || d.starts_with("aws-smithy")
            })
            .collect();
        match name.as_str() {
            "autosub-aws" => assert!(!sdk.is_empty()),
            // Dev-only: seeds estates with the real SDK; never a dependency of production crates.
            "autosub-testkit" => {}
            _ => assert!(sdk.is_empty(), "{name} links {sdk:?}; only autosub-aws may"),
        }
        if name != "autosub-testkit" {
            assert!(
                !deps.iter().any(|d| d == "autosub-testkit"),
                "{name} depends on the testkit"
            );
        }
    }
}

#[test]
fn the_core_is_pure() {
    let crates = crates();
    let core = &crates["autosub-core"];
    for banned in [
        "tokio",
        "futures",
        "async-trait",
        "tracing",
        "autosub-aws",
        "autosub-config",
    ] {
        assert!(
            !core.iter().any(|d| d == banned),
            "autosub-core must not depend on {banned}"
        );
    }
    let config = &crates["autosub-config"];
    assert!(
        !config.iter().any(|d| d == "tokio" || d == "autosub-aws"),
        "config validation does no IO"
    );
}

#[test]
fn the_binary_is_thin() {
    let crates = crates();
    let bin = &crates["autosub"];
    for banned in ["autosub-discover", "autosub-triggers"] {
        assert!(
            !bin.iter().any(|d| d == banned),
            "the binary drives the engine, not {banned} directly"
        );
    }
}

#[test]
fn the_engine_knows_nothing_of_the_operational_features() {
    let crates = crates();
    assert!(
        !crates["autosub-engine"].iter().any(|d| d == "autosub-ops"),
        "autosub-ops reads the engine's reports; the engine must not depend on it"
    );
    for reconcile in [
        "autosub-core",
        "autosub-aws",
        "autosub-discover",
        "autosub-triggers",
    ] {
        assert!(
            !crates[reconcile].iter().any(|d| d == "autosub-ops"),
            "{reconcile} depends on autosub-ops"
        );
    }
}
