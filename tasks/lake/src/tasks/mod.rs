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
}

include!(concat!(env!("OUT_DIR"), "/registry.rs"));
