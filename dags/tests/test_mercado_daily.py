"""DAG structure: it imports, the chain is exact, every command carries the run date, and each
runner builds the operator it should."""

import os
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag

CHAIN = ["extract", "clean", "enrich", "gold", "load_redshift", "reconcile", "marts"]


def test_dagbag_imports_without_errors():
    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), ".."))
    assert bag.import_errors == {}
    dag = bag.dags["mercado_daily"]
    assert dag.timetable.expression in ("@daily", "0 0 * * *")
    assert dag.max_active_runs >= 1
    assert dag.catchup is True
    assert "mercado" in dag.tags
    assert dag.doc_md and "extract" in dag.doc_md
    assert dag.default_args["owner"] == "data-engineering"
    assert dag.default_args["retry_exponential_backoff"] is True


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_the_chain_is_exact(load_dag, runner):
    _, dag = load_dag(MERCADO_RUNNER=runner)
    assert sorted(t.task_id for t in dag.tasks) == sorted(CHAIN)
    for upstream, downstream in zip(CHAIN, CHAIN[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("extract").upstream_task_ids == set()


def test_the_run_date_is_derived_in_one_place(load_dag):
    module, _ = load_dag(MERCADO_RUNNER="local")
    scheduled = datetime(2025, 3, 17, tzinfo=timezone.utc)
    assert module.run_date(None, scheduled) == "2025-03-17"
    # A manual Airflow 3 run without a logical date processes the day of its run_after.
    manual = SimpleNamespace(logical_date=None, run_after=datetime(2025, 3, 18, 9, 30, tzinfo=timezone.utc))
    assert module.run_date(manual, None) == "2025-03-18"
    with pytest.raises(ValueError):
        module.run_date(SimpleNamespace(logical_date=None, run_after=None), None)


def test_local_commands_carry_the_run_date(load_dag):
    module, dag = load_dag(MERCADO_RUNNER="local", MERCADO_BIN_DIR="/opt/mercado/bin")
    for task_id in CHAIN:
        task = dag.get_task(task_id)
        assert task.bash_command == f"/opt/mercado/bin/{task_id} --date '{module.RUN_DATE}'"
        rendered = task.render_template(task.bash_command, {"run_date": module.run_date, "dag_run": None,
                                                            "logical_date": datetime(2025, 3, 17, tzinfo=timezone.utc)})
        assert rendered == f"/opt/mercado/bin/{task_id} --date '2025-03-17'"


def test_docker_runner_fields(load_dag):
    module, dag = load_dag(MERCADO_RUNNER="docker", MERCADO_TASKS_IMAGE="mercado-tasks:test", WAREHOUSE_URL="postgres://wh")
    for task_id in CHAIN:
        task = dag.get_task(task_id)
        assert type(task).__name__ == "DockerOperator"
        assert task.image == "mercado-tasks:test"
        assert task.command == [task_id, "--date", module.RUN_DATE]
        assert set(task.environment) == set(module.PASSED_ENV)
        assert task.environment["WAREHOUSE_URL"] == "postgres://wh"
        assert "var.value" in task.environment["MERCADO_REDSHIFT_IAM_ROLE"] or "MERCADO_REDSHIFT_IAM_ROLE" in os.environ
        assert task.auto_remove == "success"
        assert task.mount_tmp_dir is False
        assert task.network_mode == "host"
        assert task.do_xcom_push is True and task.xcom_all is False
