#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

use mercado_lake::tasks;

const TASK: &str = "clean";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn prints_its_summary_last_or_one_line_of_failure() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let reason = cli_contract::one_line_failure(&cli_contract::run(TASK, &env, date), "clean");
    assert!(
        reason.contains("run `extract --date 2025-03-17` first"),
        "{reason}"
    );

    env.app.customer("ana@example.com").await;
    tasks::extract::run(&env.extract_args(date))
        .await
        .expect("extract");
    let v = cli_contract::summary(&cli_contract::run(TASK, &env, date), "clean", date);
    assert_eq!(v["datasets"]["raw/postgres/customers"]["rows_out"], 1);
}
