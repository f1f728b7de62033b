//! The docs cite tests by name (`docs/reliability.md`, `docs/architecture.md`, …): every name
//! they cite must be a function or module of the workspace, so a renamed or deleted test cannot
//! leave a promise that nothing holds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The workspace root (this crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Every file under `dir` whose name ends with `suffix`, skipping build output.
fn files(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                files(&path, suffix, out);
            }
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

/// Function and module names of the workspace's Rust sources (module files by their stem).
fn rust_names() -> BTreeSet<String> {
    let mut sources = Vec::new();
    for dir in ["crates", "tests"] {
        files(&root().join(dir), ".rs", &mut sources);
    }
    let item = Regex::new(r"\b(?:fn|mod)\s+([a-z0-9_]+)").unwrap();
    let mut names = BTreeSet::new();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap();
        names.extend(item.captures_iter(&text).map(|c| c[1].to_owned()));
        if let Some(stem) = path.file_stem() {
            names.insert(stem.to_string_lossy().into_owned());
        }
    }
    names
}

/// The test names a doc cites: the last segment of a crate path in backticks
/// (`it::on_fake::name`, `core::plan_tests::name`, a trailing `*` matching any name that
/// starts so), and bare sentence-long snake_case names (five underscores or more) that are not
/// metric names.
fn cited(text: &str) -> Vec<String> {
    let code = Regex::new(r"`([^`\n]+)`").unwrap();
    let path = Regex::new(
        r"^(?:it|core|engine|ops|aws|config|testkit|triggers|discover|autosub)::(?:[a-z0-9_]+::)*([a-z0-9_]+\*?)$",
    )
    .unwrap();
    let sentence = Regex::new(r"^[a-z0-9]+(?:_[a-z0-9]+){5,}$").unwrap();
    let mut names = Vec::new();
    for span in code.captures_iter(text) {
        for token in span[1]
            .split([',', ' ', '(', ')'])
            .filter(|t| !t.is_empty())
        {
            if let Some(c) = path.captures(token) {
                names.push(c[1].to_owned());
            } else if sentence.is_match(token) && !token.starts_with("autosub_") {
                names.push(token.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_test_the_docs_cite_exists() {
    let names = rust_names();
    let mut docs = vec![root().join("README.md")];
    files(&root().join("docs"), ".md", &mut docs);
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for name in cited(&text) {
            checked += 1;
            let found = match name.strip_suffix('*') {
                Some(prefix) => names.iter().any(|n| n.starts_with(prefix)),
                None => names.contains(&name),
            };
            if !found {
                missing.push(format!("{}: {name}", doc.display()));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} citations found: is the pattern still right?"
    );
    assert!(
        missing.is_empty(),
        "cited but not in the code:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_renamed_test_is_caught() {
    let names = rust_names();
    let cited =
        cited("held by `it::on_fake::a_test_that_was_renamed_long_ago`, `core::plan_tests`");
    assert_eq!(cited, ["a_test_that_was_renamed_long_ago", "plan_tests"]);
    assert!(!names.contains(&cited[0]));
    assert!(names.contains(&cited[1]));
}

/// `docs/events.md` lists every followed event: its table cannot fall behind the registry.
#[test]
fn the_events_doc_lists_every_followed_operation() {
    let doc = std::fs::read_to_string(root().join("docs/events.md")).expect("read docs/events.md");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    let all = autosub_core::Service::ALL.into_iter().collect();
    for (source, operations) in autosub_core::cloudtrail::followed(&all) {
        let listed: BTreeSet<&str> = rows
            .iter()
            .filter(|row| row.starts_with(&format!("| `{source}` |")))
            .flat_map(|row| row.split('|').nth(2).unwrap_or_default().split(','))
            .map(str::trim)
            .collect();
        for operation in operations {
            assert!(
                listed.contains(operation),
                "docs/events.md does not list {operation} of {source}"
            );
        }
    }
}
