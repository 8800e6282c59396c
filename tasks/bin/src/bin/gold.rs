//! A task binary: everything it does is in `tasks/registry.toml` and `mercado_lake::tasks`.
fn main() -> std::process::ExitCode {
    mercado_lake::entry::main(env!("CARGO_BIN_NAME"))
}
