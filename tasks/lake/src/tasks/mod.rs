//! The tasks, one module each, as listed in `tasks/registry.toml`: the modules, [`TASKS`] and the
//! dispatch of the binaries are generated from it by `build.rs`. A task module has
//! `pub type Args` (its flags, implementing [`crate::entry::TaskArgs`]) and
//! `pub async fn run(args: &Args) -> Result<Summary>`, and uses no other task module.

/// One task of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskInfo {
    pub name: &'static str,
    pub about: &'static str,
    pub reads: &'static str,
    pub writes: &'static str,
    pub depends_on_past: bool,
    pub max_active_per_dag: u32,
    /// The default of the task's `--memory-limit` (empty: none).
    pub memory_limit: &'static str,
    /// What runs it: `mercado-task` (this crate) or `iceberg` (`scripts/iceberg.sh`, the Iceberg
    /// commit in Python).
    pub program: &'static str,
    /// Split by a hash of the transaction id (`--shard I/N`): Airflow maps it over the run's
    /// shards and `commit` publishes their outputs together.
    pub sharded: bool,
}

impl TaskInfo {
    /// A subcommand of `mercado-task`.
    pub fn in_binary(&self) -> bool {
        self.program == "mercado-task"
    }
}

/// The registry's tasks that `mercado-task` runs, in run order.
pub fn binary_tasks() -> impl Iterator<Item = &'static TaskInfo> {
    TASKS.iter().filter(|t| t.in_binary())
}

include!(concat!(env!("OUT_DIR"), "/registry.rs"));
