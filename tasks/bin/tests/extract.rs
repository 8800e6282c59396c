#[path = "../../lake/tests/common/cli_contract.rs"]
mod cli_contract;
#[path = "../../lake/tests/common/mod.rs"]
mod common;

const TASK: &str = "extract";

#[test]
fn help_and_date_errors() {
    cli_contract::help_and_date_errors(TASK);
}

#[tokio::test]
async fn prints_its_summary_last() {
    let env = common::Env::new().await;
    env.app.customer("ana@example.com").await;
    let date = common::day("2025-03-17");
    let v = cli_contract::summary(&cli_contract::run(TASK, &env, date), "extract", date);
    assert_eq!(v["datasets"]["raw/postgres/categories"]["rows_in"], 9);
    assert_eq!(v["datasets"]["raw/postgres/customers"]["rows_in"], 1);
    assert_eq!(v["datasets"]["raw/dynamodb/transactions"]["rows_in"], 0);
}
