//! The one entry point of every task: `mercado-task <task> --date D …` (the binary in `tasks/bin`,
//! whose `main` only calls [`main`]). This owns what every task shares: its flags and `--help` (the
//! task's `Args` plus its `about` from the registry), logging, the run id, the timer, the audit row,
//! and how the process ends (the JSON summary as the last stdout line and exit 0, or a one-line
//! reason on stderr and exit 1). Invoked through a link named after a task (`extract -> mercado-task`),
//! it runs that task.

use std::ffi::OsString;
use std::process::ExitCode;

use futures::future::LocalBoxFuture;

use crate::cli::LakeArgs;
use crate::error::Result;
use crate::summary::Summary;
use crate::tasks::TaskInfo;
use crate::warehouse::WarehouseArgs;

/// What the entry point needs of a task's flags.
pub trait TaskArgs: clap::Args + clap::FromArgMatches {
    /// The flags every task has (date, bucket, run id…).
    fn lake(&self) -> &LakeArgs;
    fn lake_mut(&mut self) -> &mut LakeArgs;

    /// The warehouse the run's audit row goes to: by default the one in the environment
    /// (`WAREHOUSE_URL`, `MERCADO_WAREHOUSE_TARGET`), if set. A lake task that runs before any load
    /// has no warehouse to write to; that is logged, not fatal (the manifests are the record).
    fn audit_warehouse(&self) -> Option<WarehouseArgs> {
        WarehouseArgs::from_env()
    }

    /// The task writes its own audit row when it succeeds or fails a check (inside its merge
    /// transaction, with its numbers); the entry point then records only its other failures.
    const RECORDS_ITS_OWN_RUN: bool = false;
}

impl TaskArgs for LakeArgs {
    fn lake(&self) -> &LakeArgs {
        self
    }
    fn lake_mut(&mut self) -> &mut LakeArgs {
        self
    }
}

/// The binary's name.
pub const BINARY: &str = "mercado-task";

/// Runs the task named by the first argument (or by the name the binary was invoked as).
pub fn main() -> ExitCode {
    limit_malloc_arenas();
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name = if crate::tasks::binary_tasks().any(|t| t.name == invoked_as) {
        invoked_as
    } else {
        match argv.get(1).map(|a| a.to_string_lossy().to_string()) {
            Some(first) if crate::tasks::binary_tasks().any(|t| t.name == first) => {
                argv.remove(0);
                first
            }
            Some(first) if first != "--help" && first != "-h" && first != "help" => {
                eprintln!("{BINARY}: no task named {first:?}\n\n{}", overview());
                return ExitCode::from(2);
            }
            Some(_) => {
                println!("{}", overview());
                return ExitCode::SUCCESS;
            }
            None => {
                eprintln!("{}", overview());
                return ExitCode::from(2);
            }
        }
    };
    crate::tasks::dispatch(&name, argv).unwrap_or_else(|| ExitCode::from(2))
}

/// glibc gives threads that allocate at the same time heaps of their own ("arenas", up to 8 per
/// core) and returns freed memory to the heap it came from. The tasks hand batches between
/// threads (files decoded on their own threads, lines parsed on both cores, Parquet encoded on
/// the writer's), so each arena grows to its own high-water mark. At 1M lines on 2 cores `clean`
/// peaked at 170–215 MiB with glibc's default, 170–180 with an arena per core and 141 with one
/// per two cores, in the same time (the tasks' CPU work runs on at most two threads at once).
/// A `MALLOC_ARENA_MAX` in the environment, read by glibc already, is left to win.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores / 2)
        .unwrap_or(libc::c_int::MAX)
        .max(1);
    // SAFETY: mallopt only sets a parameter of glibc's allocator, and is called first thing in
    // main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// `mercado-task --help`: the tasks of the registry, in run order.
fn overview() -> String {
    let mut text = format!(
        "Mercado's pipeline tasks (tasks/registry.toml; the Iceberg commit runs as scripts/iceberg.sh), in run order. One logical date per run.\n\n\
         Usage: {BINARY} <TASK> --date <YYYY-MM-DD> [OPTIONS]\n       {BINARY} <TASK> --help\n\nTasks:\n"
    );
    let width = crate::tasks::binary_tasks()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for t in crate::tasks::binary_tasks() {
        text.push_str(&format!(
            "  {:width$}  reads {}; writes {}\n",
            t.name, t.reads, t.writes
        ));
    }
    text
}

/// Parses `argv` into the task's `A`, then runs it: called by the generated dispatch.
pub(crate) fn execute<A: TaskArgs>(
    info: &TaskInfo,
    argv: Vec<OsString>,
    run: for<'a> fn(&'a A) -> LocalBoxFuture<'a, Result<Summary>>,
) -> ExitCode {
    // The task's own description, set after its flags (whose struct doc would take its place).
    let mut command = A::augment_args(
        clap::Command::new(info.name)
            .bin_name(format!("{BINARY} {}", info.name))
            .version(env!("CARGO_PKG_VERSION")),
    );
    // The registry's memory budget of the task is its default (the flag and env still win).
    if !info.memory_limit.is_empty() {
        command = command.mut_arg("memory_limit", |a| a.default_value(info.memory_limit));
    }
    let command = command.about(format!(
        "{}: {}. One logical date; safe to re-run. Prints a one-line JSON summary last on stdout.",
        info.name, info.about
    ));
    let matches = command.get_matches_from(argv);
    let mut args = match A::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    crate::cli::init_tracing();
    args.lake_mut().fix_run_id();
    let started = std::time::Instant::now();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{} failed: cannot start the async runtime: {e}", info.name);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let result = run(&args).await;
        let record = match &result {
            Ok(_) => !A::RECORDS_ITS_OWN_RUN,
            Err(e) => !e.is_recorded(),
        };
        if record {
            if let Some(warehouse) = args.audit_warehouse() {
                record_run(info.name, args.lake(), &warehouse, started, &result).await;
            }
        }
        crate::cli::finish(info.name, result)
    })
}

/// One row in `audit.pipeline_runs`; a failure to write it is logged, not fatal.
async fn record_run(
    task: &str,
    lake: &LakeArgs,
    warehouse: &WarehouseArgs,
    started: std::time::Instant,
    result: &Result<Summary>,
) {
    let detail = match result {
        Ok(summary) => summary.note.clone(),
        Err(e) => Some(e.to_string()),
    };
    let run_id = lake.run_id();
    let run = crate::audit::RunRecord {
        task,
        date: lake.date,
        run_id: &run_id,
        rows: result.as_ref().map_or(0, |s| s.rows_out as i64),
        status: if result.is_ok() { "ok" } else { "failed" },
        started,
        detail: detail.as_deref(),
    };
    let recorded = async {
        let (client, conn) = warehouse.connect(&lake.waits).await?;
        crate::audit::record(&client, &run).await?;
        drop(client);
        conn.abort();
        Ok::<_, crate::LakeError>(())
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %e, "run not recorded in audit.pipeline_runs");
    }
}
