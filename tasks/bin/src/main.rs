//! `mercado-task <task> --date D …`: every pipeline task of `tasks/registry.toml` in one binary.
//! What a task does is its module in `mercado_lake::tasks`; what every task shares (flags, logs,
//! run id, audit row, summary line) is `mercado_lake::entry`.
fn main() -> std::process::ExitCode {
    mercado_lake::entry::main()
}
