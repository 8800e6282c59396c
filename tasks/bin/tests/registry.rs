//! The task registry (`tasks/registry.toml`) is the one list of tasks: everything else reads it,
//! or is checked against it here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mercado_lake::tasks::TASKS;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn names() -> Vec<&'static str> {
    TASKS.iter().map(|t| t.name).collect()
}

/// The tasks `mercado-task` runs (the others, `program = "iceberg"`, run as scripts/iceberg.sh).
fn binary_names() -> Vec<&'static str> {
    mercado_lake::tasks::binary_tasks()
        .map(|t| t.name)
        .collect()
}

/// The README's task table, as `scripts/registry.py readme` prints it.
fn readme_table() -> String {
    let mut rows = vec![
        "| task | reads | writes | what it does |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    for t in TASKS {
        rows.push(format!(
            "| `{}` | {} | {} | {} |",
            t.name, t.reads, t.writes, t.about
        ));
    }
    rows.join("\n")
}

#[test]
fn the_readme_table_is_the_registry() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let table = readme_table();
    assert!(
        readme.contains(&table),
        "README.md's task table differs from tasks/registry.toml; replace it with the output of \
         `python3 scripts/registry.py readme`:\n{table}"
    );
    let script = Command::new("python3")
        .arg(root().join("scripts/registry.py"))
        .arg("readme")
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&script.stdout).trim_end(),
        table,
        "Python and Rust read the registry alike"
    );
}

#[test]
fn the_binary_runs_every_task_and_nothing_else() {
    let bin = env!("CARGO_BIN_EXE_mercado-task");
    let overview = Command::new(bin)
        .arg("--help")
        .output()
        .expect("mercado-task --help");
    assert!(overview.status.success());
    let text = String::from_utf8_lossy(&overview.stdout);
    let listed: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Tasks:"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        binary_names(),
        "mercado-task --help lists the registry's tasks it runs, in order:\n{text}"
    );
    assert!(
        binary_names().len() < names().len(),
        "the Iceberg commit is in the registry"
    );
    for task in binary_names() {
        let help = Command::new(bin)
            .args([task, "--help"])
            .output()
            .expect("help");
        assert!(help.status.success(), "{task} --help");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(
            text.contains(&format!("Usage: mercado-task {task}")),
            "{text}"
        );
    }
    let unknown = Command::new(bin)
        .args(["nope", "--date", "2025-03-17"])
        .output()
        .expect("run");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no task named \"nope\""));
    let script = Command::new("python3")
        .arg(root().join("scripts/registry.py"))
        .arg("names")
        .output()
        .expect("python3 runs");
    let from_python: Vec<String> = String::from_utf8_lossy(&script.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(from_python, names(), "scripts/registry.py names");
    // The README's by-hand loop runs these: each a program of the checkout, with the task's name.
    let commands = Command::new("python3")
        .arg(root().join("scripts/registry.py"))
        .arg("commands")
        .output()
        .expect("python3 runs");
    let commands = String::from_utf8_lossy(&commands.stdout).to_string();
    assert_eq!(commands.lines().count(), names().len(), "{commands}");
    for (line, task) in commands.lines().zip(names()) {
        let (program, argument) = line.split_once(' ').expect("a program and its argument");
        assert!(
            root().join(program).exists(),
            "{line}: {program} is not in the checkout"
        );
        match task.strip_prefix("iceberg_") {
            Some(step) => assert_eq!(line, format!("scripts/iceberg.sh {step}")),
            None => assert_eq!((program, argument), ("target/debug/mercado-task", task)),
        }
    }
}

/// Lines that name every task (or all but one) within a few lines of each other restate the
/// registry: they would go stale when a task is added. It should read the registry instead (Rust: `mercado_lake::tasks::TASKS`;
/// Python: `scripts/registry.py`; shell: `python3 scripts/registry.py names`).
/// How many consecutive lines one restatement may span.
const WINDOW: usize = 3;

#[test]
fn nothing_else_restates_the_task_list() {
    let root = root();
    let files = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    let table = readme_table();
    let names = names();
    let mut offenders = Vec::new();
    for file in String::from_utf8_lossy(&files.stdout).lines() {
        if file == "tasks/registry.toml" || file == "tasks/bin/tests/registry.rs" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue; // binary or unreadable
        };
        let lines: Vec<&str> = text
            .lines()
            .map(|l| {
                if table.lines().any(|row| row == l) {
                    ""
                } else {
                    l
                }
            }) // the table, checked above
            .collect();
        for (n, window) in lines.windows(WINDOW.min(lines.len())).enumerate() {
            let words: BTreeSet<&str> = window
                .iter()
                .flat_map(|l| l.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
                .filter(|w| names.contains(w))
                .collect();
            if words.len() + 1 >= names.len() {
                offenders.push(format!("{file}:{}: {}", n + 1, window.join(" / ").trim()));
                break;
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these lines restate the task list; read tasks/registry.toml instead:\n{}",
        offenders.join("\n")
    );
}
