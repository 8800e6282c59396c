#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

use mercado_lake::tasks;

const TASK: &str = "enrich";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn prints_its_summary_last_or_one_line_of_failure() {
    let env = common::Env::new().await;
    let date = common::day("2025-03-17");
    let reason = cli_contract::one_line_failure(&cli_contract::run(TASK, &env, date), "enrich");
    assert!(
        reason.contains("run `clean --date 2025-03-17` first"),
        "{reason}"
    );

    env.app.customer("ana@example.com").await;
    tasks::extract::run(&env.extract_args(date))
        .await
        .expect("extract");
    tasks::clean::run(&env.args(date)).await.expect("clean");
    let v = cli_contract::summary(&cli_contract::run(TASK, &env, date), "enrich", date);
    assert_eq!(v["rows_out"], 0);
}
