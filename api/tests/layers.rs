//! The API's layers point one way: `http` → `rules`, `store` → `model`. This test reads the
//! sources under `api/src` and fails, naming the file and line, when a file under `store/`,
//! `rules/` or `model/` reaches into the HTTP layer (`crate::http`, `super::http`, or what the
//! crate root re-exports from it), or when `model` reaches into any layer above it.

use std::path::{Path, PathBuf};

/// What the crate root re-exports from `http`: naming these is importing `http`.
const HTTP_AT_ROOT: [&str; 4] = ["AppState", "router", "serve", "shutdown_signal"];

/// What `model` may name under `crate::`: itself, and what the root re-exports from mercado-core.
const MODEL_MAY_NAME: [&str; 3] = ["model", "regions", "keys"];

/// The Rust files under `dir`, recursively, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The code of each line (comments dropped), with the line number. A `use` spread over several
/// lines is joined onto its first line, so `use crate::{\n http::…}` is caught too.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open_use: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        match open_use {
            Some(at) => out[at].1.push_str(code),
            None => out.push((i + 1, code.to_string())),
        }
        let stmt = &out[open_use.unwrap_or(out.len() - 1)].1;
        let in_use = stmt.starts_with("use ") || stmt.starts_with("pub use ");
        open_use = (in_use && !stmt.ends_with(';')).then(|| open_use.unwrap_or(out.len() - 1));
    }
    out
}

/// The paths a line names after `prefix` (`crate::`, `super::`): `http`, `model`, or the names
/// inside a `{…}` group.
fn named_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(prefix) {
        let at = from + found;
        from = at + prefix.len();
        // Only a path that starts here: not the tail of `a::crate::` or of `super::super::`.
        let preceded_by_path = code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded_by_path {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            names.extend(
                inner
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or("").trim()),
            );
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            names.push(&rest[..end]);
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Every way `file` (under `layer`) breaks the layering, as `file:line: why`.
fn violations(layer: &str, file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    // How many `super::` lead from this file's module to the crate root: `store/mod.rs` is
    // `store` (one), `store/pg.rs` is `store::pg` (two), one more per folder.
    let depth = file.matches('/').count() + usize::from(!file.ends_with("mod.rs"));
    let to_root = "super::".repeat(depth + 1);
    for (n, code) in code_lines(text) {
        let mut why = Vec::new();
        let mut from_crate = named_after(&code, "crate::");
        from_crate.extend(named_after(&code, &to_root));
        // `super::http` at any depth: no layer below has a module of that name.
        let mut from = 0;
        while let Some(at) = code[from..].find("super::http") {
            let at = from + at;
            from = at + "super::http".len();
            let end = code[from..].chars().next();
            if !end.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                why.push("`super::http`".to_string());
            }
        }
        for name in from_crate {
            if name == "http" || HTTP_AT_ROOT.contains(&name) {
                why.push(format!("`crate::{name}` (the HTTP layer)"));
            } else if layer == "model" && !MODEL_MAY_NAME.contains(&name) {
                why.push(format!("`crate::{name}` (above the model)"));
            }
        }
        why.dedup();
        if !why.is_empty() {
            let why = why.join(", ");
            found.push(format!("api/src/{layer}/{file}:{n}: imports {why}: {code}"));
        }
    }
    found
}

#[test]
fn lower_layers_never_import_http() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut read = 0;
    for layer in ["store", "rules", "model"] {
        let root = src.join(layer);
        for path in sources(&root) {
            let text = std::fs::read_to_string(&path).expect("source");
            let file = path
                .strip_prefix(&root)
                .expect("under the layer")
                .to_string_lossy()
                .replace('\\', "/");
            found.extend(violations(layer, &file, &text));
            read += 1;
        }
    }
    assert!(
        read >= 8,
        "read only {read} files under store/, rules/, model/"
    );
    assert!(
        found.is_empty(),
        "store/, rules/ and model/ must not import the HTTP layer (and model nothing above it); \
         move the shared piece down a layer or map the error in http/:\n{}",
        found.join("\n")
    );
}

/// The check itself catches each form of the import (so a clean run means something).
#[test]
fn the_check_catches_each_form() {
    let caught = |layer: &str, file: &str, text: &str| violations(layer, file, text).len();
    assert_eq!(
        caught("store", "dynamo.rs", "use crate::http::error::ApiError;"),
        1
    );
    assert_eq!(
        caught(
            "store",
            "dynamo.rs",
            "use crate::{\n    http::state,\n    model::Cart,\n};"
        ),
        1
    );
    assert_eq!(
        caught(
            "rules",
            "cart.rs",
            "let e = crate::http::error::ApiError::invalid(f, m);"
        ),
        1
    );
    assert_eq!(caught("rules", "mod.rs", "use super::http::extract;"), 1);
    assert_eq!(
        caught("store", "pg.rs", "use super::super::http::error;"),
        1
    );
    assert_eq!(caught("store", "pg.rs", "fn f(st: &crate::AppState) {}"), 1);
    assert_eq!(caught("model", "mod.rs", "use crate::rules::MAX_QTY;"), 1);
    assert_eq!(caught("model", "schemas.rs", "use crate::store::pg;"), 1);
    assert_eq!(caught("model", "mod.rs", "use super::rules;"), 1);
    let report = violations(
        "store",
        "dynamo.rs",
        "\n\nuse crate::http::error::ApiError;",
    );
    assert_eq!(
        report,
        ["api/src/store/dynamo.rs:3: imports `crate::http` (the HTTP layer): use crate::http::error::ApiError;"]
    );
    // What may stay: comments, the model and core's re-exports, sibling modules.
    assert_eq!(caught("store", "dynamo.rs", "// see crate::http::error"), 0);
    assert_eq!(
        caught("store", "dynamo.rs", "use crate::model::{Cart, COMPLETED};"),
        0
    );
    assert_eq!(
        caught("rules", "cart.rs", "use super::{validate, FieldError};"),
        0
    );
    assert_eq!(caught("model", "mod.rs", "use crate::model::schemas;"), 0);
    assert_eq!(
        caught("model", "schemas.rs", "let c = crate::regions::codes();"),
        0
    );
    assert_eq!(
        caught(
            "store",
            "warehouse.rs",
            "use mercado_core::calendar::date_id;"
        ),
        0
    );
}
