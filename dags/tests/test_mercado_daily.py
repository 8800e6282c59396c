"""DAG structure and date semantics: it imports, the chain is exact, every command carries the run
date, the timetable gives each scheduled run the day that just closed (asked of Airflow's own
timetable API), backfill ordering is declared, and settings never reach a rendered template."""

import copy
import os
import pathlib
import sys
from datetime import datetime, timedelta, UTC
from types import SimpleNamespace

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.encoders import coerce_to_core_timetable
from airflow.timetables.base import TimeRestriction

# The task registry, in run order (tasks/registry.toml, read as scripts/registry.py reads it).
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
CHAIN = [t["name"] for t in __import__("registry").tasks()]
# The tasks of the Rust binary (the others run as scripts/iceberg.sh, or in the Iceberg image).
BINARY_CHAIN = [t["name"] for t in __import__("registry").tasks() if t.get("program", "mercado-task") == "mercado-task"]
UTC = UTC


def test_dagbag_imports_without_errors():
    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), ".."))
    assert bag.import_errors == {}
    dag = bag.dags["mercado_daily"]
    assert dag.catchup is False, "unpausing must not create one run per day since the start date"
    assert dag.max_active_runs >= 1
    assert "mercado" in dag.tags
    assert dag.doc_md and "extract" in dag.doc_md
    assert dag.default_args["owner"] == "data-engineering"
    assert dag.params["date"] is None


def test_the_iceberg_maintenance_dag(load_dag):
    bag = DagBag(dag_folder=os.path.join(os.path.dirname(__file__), ".."))
    dag = bag.dags["mercado_iceberg_maintenance"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == ["expire_snapshots", "remove_orphans"]
    assert dag.params["keep_days"] == 7 and dag.params["orphan_hours"] == 24
    context = {"params": {"keep_days": 3, "orphan_hours": 12}}
    expire = dag.get_task("expire_snapshots")
    assert expire.render_template(expire.bash_command, context).endswith("iceberg.sh expire --older-than-days 3")
    orphans = dag.get_task("remove_orphans")
    assert orphans.render_template(orphans.bash_command, context).endswith(
        "iceberg.sh remove-orphans --older-than-hours 12")


def core_timetable(dag):
    """The timetable as the scheduler sees it."""
    return coerce_to_core_timetable(dag.timetable)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 24, 0, 5, tzinfo=UTC),  # five minutes after 2026-11-23 closed
        datetime(2026, 11, 24, 23, 59, tzinfo=UTC),
        datetime(2025, 3, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 12, 0, tzinfo=UTC),  # leap day
    ],
)
def test_scheduled_run_processes_the_day_that_closed(load_dag, now):
    module, dag = load_dag(MERCADO_START_DATE="2024-01-01")
    timetable = core_timetable(dag)
    # The newest scheduled run at `now`: walk the timetable from two days back.
    restriction = TimeRestriction(earliest=now - timedelta(days=3), latest=None, catchup=True)
    last, info = None, timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    while info and info.run_after <= now:
        last = info
        info = timetable.next_dagrun_info(last_automated_data_interval=info.data_interval, restriction=restriction)
    assert last is not None
    yesterday = (now - timedelta(days=1)).date()
    assert last.run_after.date() == now.date(), "it fired at 00:00 UTC of today"
    assert last.data_interval.end - last.data_interval.start == timedelta(days=1)
    assert module.run_date({}, None, last.data_interval.start) == yesterday.isoformat()


def test_unpausing_creates_only_the_latest_run(load_dag):
    module, dag = load_dag(MERCADO_START_DATE="2025-03-01")
    timetable = core_timetable(dag)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=start, latest=None, catchup=dag.catchup),
    )
    # Catchup off: the first run is the latest complete day, not 2025-03-01.
    assert info.data_interval.start.date() >= (datetime.now(UTC) - timedelta(days=2)).date()


def test_manual_runs(load_dag):
    module, dag = load_dag()
    timetable = core_timetable(dag)
    # A manual trigger "now" (the UI's default logical date) covers the last complete day.
    interval = timetable.infer_manual_data_interval(run_after=datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    assert module.run_date({}, None, interval.start) == "2026-11-23"
    # The form's date wins.
    assert module.run_date({"date": "2025-03-17"}, None, interval.start) == "2025-03-17"
    # No logical date at all: the day before it was queued.
    queued = SimpleNamespace(run_after=datetime(2025, 3, 18, 9, 30, tzinfo=UTC))
    assert module.run_date({"date": None}, queued, None) == "2025-03-17"
    with pytest.raises(ValueError):
        module.run_date({}, SimpleNamespace(run_after=None), None)
    with pytest.raises(ValueError):
        module.run_date({"date": "17/03/2025"}, None, None)


def test_the_date_param_is_validated(load_dag):
    _, dag = load_dag()
    params = copy.deepcopy(dag.params)
    params.update({"date": "2025-03-17"})
    assert params.validate()["date"] == "2025-03-17"
    # Airflow's ParamValidationError is a ValueError.
    with pytest.raises(ValueError, match="date"):
        params.update({"date": "not a date"})
        params.validate()


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_the_chain_and_its_ordering(load_dag, runner):
    _, dag = load_dag(MERCADO_RUNNER=runner)
    assert sorted(t.task_id for t in dag.tasks) == sorted(CHAIN)
    for upstream, downstream in zip(CHAIN, CHAIN[1:]):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("extract").upstream_task_ids == set()
    # Backfill safety: gold reads the previous date's gold; loads go one date at a time.
    assert [t for t in CHAIN if dag.get_task(t).depends_on_past] == ["gold"]
    assert dag.get_task("load_redshift").max_active_tis_per_dag == 1


def test_local_commands_carry_the_run_date(load_dag):
    module, dag = load_dag(MERCADO_RUNNER="local", MERCADO_BIN_DIR="/opt/mercado/bin")
    context = {"run_date": module.run_date, "dag_run": None, "params": {"date": None},
               "data_interval_start": datetime(2025, 3, 17, tzinfo=UTC)}
    for task_id in BINARY_CHAIN:
        task = dag.get_task(task_id)
        assert task.bash_command == f"/opt/mercado/bin/mercado-task {task_id} --date '{module.RUN_DATE}'"
        rendered = task.render_template(task.bash_command, context)
        assert rendered == f"/opt/mercado/bin/mercado-task {task_id} --date '2025-03-17'"
    iceberg = dag.get_task("iceberg_commit")
    script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "iceberg.sh"
    assert iceberg.render_template(iceberg.bash_command, context) == f"{script} commit --date '2025-03-17'"


SECRET = "s3cr3t-" + os.urandom(4).hex()


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_settings_stay_out_of_template_fields(load_dag, runner):
    module, dag = load_dag(MERCADO_RUNNER=runner, AWS_SECRET_ACCESS_KEY=SECRET,
                           WAREHOUSE_URL=f"postgres://u:{SECRET}@db/wh")
    for task_id in CHAIN:
        task = dag.get_task(task_id)
        fields = {name: getattr(task, name) for name in task.template_fields}
        assert SECRET not in repr(fields), (task_id, fields)
    # They are resolved when the task executes.
    env = module.task_environment()
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRET and env["WAREHOUSE_URL"].endswith("@db/wh")


def test_refresh_param_reaches_the_tasks_as_a_setting(load_dag):
    module, dag = load_dag()
    assert dag.params[module.REFRESH_PARAM] is False
    assert "MERCADO_EXTRACT_REFRESH" not in module.task_environment({"params": dag.params})
    env = module.task_environment({"params": {module.REFRESH_PARAM: True}})
    assert env["MERCADO_EXTRACT_REFRESH"] == "true"


def test_docker_runner_fields(load_dag):
    module, dag = load_dag(MERCADO_RUNNER="docker", MERCADO_TASKS_IMAGE="mercado-tasks:test",
                           MERCADO_ICEBERG_IMAGE="mercado-iceberg:test", MERCADO_DOCKER_URL="unix:///srv/engine.sock")
    # The Iceberg step in its own image, whose entry point is `python -m mercado_iceberg`.
    iceberg = dag.get_task("iceberg_commit")
    assert type(iceberg).__name__ == "MercadoDockerOperator"
    assert iceberg.image == "mercado-iceberg:test"
    assert iceberg.command == ["commit", "--date", module.RUN_DATE]
    for task_id in BINARY_CHAIN:
        task = dag.get_task(task_id)
        assert type(task).__name__ == "MercadoDockerOperator"
        assert task.image == "mercado-tasks:test"
        assert task.command == ["mercado-task", task_id, "--date", module.RUN_DATE]
        assert not task.environment
        assert task.auto_remove == "success"
        assert task.mount_tmp_dir is False
        assert task.network_mode == "host"
        assert task.do_xcom_push is True and task.xcom_all is False
        assert task.docker_url == "unix:///srv/engine.sock"


def test_every_setting_the_dag_reads_is_watched_by_airflow_sh():
    """scripts/airflow.sh restarts the components when SETTINGS or PASSED_ENV change (it reads the two
    tuples from the file): every environment variable the DAG file reads must be in one of them."""
    import ast
    import re

    path = pathlib.Path(__file__).resolve().parents[1] / "mercado_daily.py"
    source = path.read_text()
    tree = ast.parse(source)
    declared = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("SETTINGS", "PASSED_ENV"):
                declared[node.targets[0].id] = set(ast.literal_eval(node.value))
    assert set(declared) == {"SETTINGS", "PASSED_ENV"}
    read = set(re.findall(r'(?:setting|os\.environ\.get|os\.environ\[)\(?"([A-Z_]+)"', source))
    assert read, "the pattern found no setting at all"
    assert read <= declared["SETTINGS"] | declared["PASSED_ENV"], read - declared["SETTINGS"] - declared["PASSED_ENV"]


def test_retries_back_off(load_dag):
    """Airflow 3 reads retry_exponential_backoff as a multiplier: True (1.0) would mean no backoff."""
    _, dag = load_dag(MERCADO_RETRIES="2", MERCADO_RETRY_DELAY_SECONDS="30")
    task = dag.get_task(CHAIN[0])
    assert task.retries == 2 and task.retry_delay == timedelta(seconds=30)
    assert task.retry_exponential_backoff == 2.0


def test_every_wait_is_bounded(load_dag):
    """Each task's execution_timeout is its registry's timeout_minutes, a run has a dagrun_timeout,
    and a task that fails for good is announced by the failure notifier."""
    _, dag = load_dag(MERCADO_DAGRUN_TIMEOUT_MINUTES="90")
    registry = {t["name"]: t for t in __import__("registry").tasks()}
    for name in CHAIN:
        task = dag.get_task(name)
        assert task.execution_timeout == timedelta(minutes=registry[name]["timeout_minutes"]), name
        assert [type(cb).__name__ for cb in task.on_failure_callback] == ["FailureNotice"], name
    assert dag.dagrun_timeout == timedelta(minutes=90)
