"""DAG structure and date semantics: it imports, the chain is exact, every command carries the run
date, the timetable gives each scheduled run the day that just closed (asked of Airflow's own
timetable API), backfill ordering is declared, and settings never reach a rendered template. The
shards: the plan's choice, the mapped tasks, commit's settings, and a whole run of the DAG by
Airflow (``dag.test``) with a stand-in for the binary that records what each instance was told."""

import copy
import json
import os
import pathlib
import subprocess
import sys
import textwrap
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
# The tasks run once per shard (mapped), and the DAG's task ids: the chain with the shard plan after
# extract.
SHARDED = [t["name"] for t in __import__("registry").tasks() if t.get("sharded")]
DAG_CHAIN = __import__("registry").dag_task_ids()
UTC = UTC


def partial_kwargs(task) -> dict:
    """A task's arguments: a mapped task's are its ``partial`` ones (its expanded ones aside)."""
    if task.is_mapped:
        return dict(task.partial_kwargs)
    return {name: getattr(task, name) for name in task.template_fields}


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
    module, dag = load_dag(MERCADO_RUNNER=runner)
    assert SHARDED == ["clean", "enrich", "gold"]
    assert list(module.DAG_TASK_IDS) == DAG_CHAIN
    assert DAG_CHAIN[:3] == ["extract", "shards", "clean_dimensions"]
    assert sorted(t.task_id for t in dag.tasks) == sorted(DAG_CHAIN)
    # Each task after the one above it in the registry, or after those its `after` names (a mapped
    # task also after the plan it is mapped over), as scripts/registry.py reads the registry.
    wired = __import__("registry").dag_upstreams()
    assert {t: dag.get_task(t).upstream_task_ids for t in DAG_CHAIN} == wired
    assert wired["extract"] == set() and wired["clean_dimensions"] == {"shards"}
    assert wired["clean"] == {"gold_dimensions", "shards"} and wired["commit"] == {"gold"}
    # The Iceberg commit and the warehouse load both read what commit published: side by side, and
    # reconcile, which checks one against the other, after both.
    assert wired["iceberg_commit"] == wired["load_redshift"] == {"commit"}
    assert wired["reconcile"] == {"iceberg_commit", "load_redshift"}
    # The registry's order is a run order.
    assert all(DAG_CHAIN.index(up) < DAG_CHAIN.index(t) for t, ups in wired.items() for up in ups)
    assert "commit → iceberg_commit ∥ load_redshift → reconcile" in dag.doc_md
    assert dag.get_task("shards").downstream_task_ids == {"clean_dimensions", *SHARDED}
    # Backfill safety: gold_dimensions reads the previous date's; loads go one date at a time.
    assert [t for t in DAG_CHAIN if dag.get_task(t).depends_on_past] == ["gold_dimensions"]
    assert dag.get_task("load_redshift").max_active_tis_per_dag == 1
    # Many runs at once: free slots go to the furthest-along task (weight_rule "upstream"), as the
    # scheduler weighs each task instance.
    from airflow.task.priority_strategy import validate_and_load_priority_weight_strategy

    weights = [validate_and_load_priority_weight_strategy(dag.get_task(t).weight_rule)
               .get_weight(SimpleNamespace(task=dag.get_task(t))) for t in DAG_CHAIN]
    assert weights == sorted(weights) and weights[0] < weights[-1], weights
    assert "shards" in dag.doc_md and "clean[N]" in dag.doc_md


def test_the_chains_across_dates_have_a_queue_of_their_own(load_dag):
    """On CeleryExecutor the tasks later dates wait on run from their own queue, which the project's
    workers consume besides the default one; emptied, every task is on the default queue."""
    _, dag = load_dag()
    default = dag.get_task("extract").queue
    chained = {t.task_id for t in dag.tasks if t.depends_on_past or t.max_active_tis_per_dag}
    assert chained == {"gold_dimensions", "load_redshift"}
    assert {t.task_id: t.queue for t in dag.tasks} == {t.task_id: "chain" if t.task_id in chained else default
                                                        for t in dag.tasks}
    _, dag = load_dag(MERCADO_CHAIN_QUEUE="lane")
    assert dag.get_task("load_redshift").queue == "lane"
    _, dag = load_dag(MERCADO_CHAIN_QUEUE="")
    assert {t.queue for t in dag.tasks} == {default}


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_sharded_tasks_are_mapped_over_the_plan(load_dag, runner):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    module, dag = load_dag(MERCADO_RUNNER=runner)
    argument = "env" if runner == "local" else "environment"
    operator = "MercadoLocalOperator" if runner == "local" else "MercadoDockerOperator"
    for task_id in DAG_CHAIN:
        task = dag.get_task(task_id)
        assert task.is_mapped == (task_id in SHARDED), task_id
        if task_id not in SHARDED:
            continue
        assert isinstance(task, MappedOperator)
        assert task.operator_class.__name__ == operator
        # Mapped over the plan's return value, the shards' settings in the argument that carries
        # plain environment variables (secrets stay out of it, in private_environment or the process's).
        (name, arg), = task.expand_input.value.items()
        assert name == argument
        assert arg.operator.task_id == "shards" and arg.key == "return_value"
        kwargs = partial_kwargs(task)
        assert argument not in kwargs
        assert kwargs["execution_timeout"] == timedelta(minutes=30)
        assert kwargs["depends_on_past"] is False
    plan = dag.get_task("shards")
    assert plan.multiple_outputs is False, "Airflow maps over the return value only"
    assert plan.execution_timeout == timedelta(minutes=5)
    assert plan.op_kwargs == {"per_shard": 1_000_000, "max_shards": 16}


@pytest.mark.parametrize(
    ("param", "transactions", "per_shard", "max_shards", "expected"),
    [
        (None, 0, 1_000_000, 16, 1),
        (None, None, 1_000_000, 16, 1),  # the day's size unknown
        (None, 1, 1_000_000, 16, 1),
        (None, 1_000_000, 1_000_000, 16, 1),
        (None, 1_000_001, 1_000_000, 16, 2),
        (None, 2_500, 1_000, 16, 3),
        (None, 10**9, 1_000_000, 16, 16),  # clamped to max_shards
        (None, 10**9, 1_000_000, 4, 4),
        (4, 0, 1_000_000, 16, 4),  # the form's choice wins…
        (1, 10**9, 1_000_000, 16, 1),
        (16, 10, 1_000_000, 2, 16),  # …over the automatic bounds too
    ],
)
def test_plan_shards(load_dag, param, transactions, per_shard, max_shards, expected):
    module, _ = load_dag()
    assert module.plan_shards(param, transactions, per_shard, max_shards) == expected


def test_plan_shards_refuses_nonsense(load_dag):
    module, _ = load_dag()
    for param in (0, -1, True, 2.5):
        with pytest.raises(ValueError):
            module.plan_shards(param, 10, 1_000, 16)
    with pytest.raises(ValueError):
        module.plan_shards(None, 10, 0, 16)
    with pytest.raises(ValueError):
        module.plan_shards(None, 10, 1_000, 0)


def extract_summary(rows) -> str:
    return json.dumps({"task": "extract", "date": "2025-03-17", "status": "ok",
                       "datasets": {"raw/dynamodb/transactions": {"rows_in": rows, "rows_written": rows},
                                    "raw/postgres/customers": {"rows_written": 7}}})


def test_the_day_transactions_from_extracts_summary(load_dag):
    module, _ = load_dag()
    line = extract_summary(2_500)
    # As BashOperator and DockerOperator keep it (the last stdout line), parsed, or JSON twice.
    for xcom in (line, f"  {line}\n", line.encode(), json.loads(line), json.dumps(line), ["log line", line]):
        assert module.day_transactions(xcom) == 2_500, xcom
    for garbled in (None, "", "not json", "{", "[]", "42", json.dumps({"datasets": {}}), json.dumps({"datasets": []}),
                    extract_summary(-1), extract_summary("12"), extract_summary(True), b"\xff\xfe", []):
        assert module.day_transactions(garbled) is None, garbled


class FakeTI:
    """What the plan uses of its task instance: extract's XCom and a place to push the count."""

    def __init__(self, extract_xcom):
        self.extract_xcom, self.pushed, self.pulled = extract_xcom, {}, []

    def xcom_pull(self, task_ids=None, key="return_value", **_):
        self.pulled.append(task_ids)
        return self.extract_xcom if (task_ids, key) == ("extract", "return_value") else None

    def xcom_push(self, key, value):
        self.pushed[key] = value


def test_the_plan_task(load_dag, caplog):
    module, _ = load_dag()
    run_id = "backfill__2025-03-17T00:00:00+00:00"
    ti = FakeTI(extract_summary(2_500))
    shards = module.plan_task(per_shard=1_000, max_shards=16, params={"shards": None}, ti=ti, run_id=run_id)
    assert shards == [{"MERCADO_SHARD": f"{i}/3", "MERCADO_STAGE_ID": run_id} for i in range(3)]
    assert ti.pushed == {"count": 3} and ti.pulled == ["extract"]
    # The form's field wins, and extract's summary is not even read.
    ti = FakeTI(extract_summary(2_500))
    shards = module.plan_task(per_shard=1_000, max_shards=16, params={"shards": 5}, ti=ti, run_id=run_id)
    assert [s["MERCADO_SHARD"] for s in shards] == ["0/5", "1/5", "2/5", "3/5", "4/5"]
    assert ti.pushed == {"count": 5} and ti.pulled == []
    # A missing or garbled summary: one shard, with a warning in the log.
    for xcom in (None, "garbled"):
        ti = FakeTI(xcom)
        caplog.clear()
        with caplog.at_level("WARNING"):
            shards = module.plan_task(per_shard=1_000, max_shards=16, params={}, ti=ti, run_id=run_id)
        assert shards == [{"MERCADO_SHARD": "0/1", "MERCADO_STAGE_ID": run_id}] and ti.pushed == {"count": 1}
        assert any(r.levelname == "WARNING" and "one shard" in r.getMessage() for r in caplog.records), caplog.text
    with pytest.raises(ValueError):
        module.plan_task(per_shard=1_000, max_shards=16, params={}, ti=FakeTI(None), run_id="")


def test_the_shards_param_is_validated(load_dag):
    _, dag = load_dag()
    assert dag.params["shards"] is None
    for good in (None, 1, 4, 16):
        params = copy.deepcopy(dag.params)
        params.update({"shards": good})
        assert params.validate()["shards"] == good
    for bad in (0, 17, "four", 2.5):
        params = copy.deepcopy(dag.params)
        with pytest.raises(ValueError, match="shards"):
            params.update({"shards": bad})
            params.validate()


def test_shard_settings(load_dag):
    module, dag = load_dag(MERCADO_SHARD_TRANSACTIONS="5000", MERCADO_MAX_SHARDS="4")
    assert dag.get_task("shards").op_kwargs == {"per_shard": 5000, "max_shards": 4}
    with pytest.raises(ValueError):
        load_dag(MERCADO_SHARD_TRANSACTIONS="0")


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_commit_is_told_the_shards_and_the_stage(load_dag, runner):
    module, dag = load_dag(MERCADO_RUNNER=runner)
    commit = dag.get_task("commit")
    env = commit.env if runner == "local" else commit.environment
    assert env == {"MERCADO_SHARDS": "{{ ti.xcom_pull(task_ids='shards', key='count') }}",
                   "MERCADO_STAGE_ID": "{{ run_id }}"}
    assert ("env" if runner == "local" else "environment") in commit.template_fields
    ti = SimpleNamespace(xcom_pull=lambda task_ids=None, key="return_value", **_: 4 if (task_ids, key) == ("shards", "count")
                         else None)
    run_id = "scheduled__2025-03-17T00:00:00+00:00"
    assert commit.render_template(env, {"ti": ti, "run_id": run_id}) == {"MERCADO_SHARDS": "4", "MERCADO_STAGE_ID": run_id}
    # The stage id the plan gives the shards is the same run id.
    assert {s["MERCADO_STAGE_ID"] for s in module.shard_environments(4, run_id)} == {run_id}
    # No other task is told anything in plain environment.
    for task_id in DAG_CHAIN:
        if task_id in ("commit", "shards") or task_id in SHARDED:
            continue
        task = dag.get_task(task_id)
        assert not (task.env if runner == "local" else task.environment), task_id


def test_a_mapped_local_instance_gets_its_shard_and_the_settings(load_dag, monkeypatch):
    """Each mapped instance is its operator unmapped with its shard's env (as Airflow's task runner
    does): MercadoLocalOperator.execute still adds the resolved settings, the shard's own on top."""
    from airflow.providers.standard.operators.bash import BashOperator

    module, dag = load_dag(MERCADO_RUNNER="local")
    seen = {}
    monkeypatch.setattr(module, "task_environment", lambda context=None: {"WAREHOUSE_URL": "postgres://w", "MERCADO_SHARD": "x"})
    monkeypatch.setattr(BashOperator, "execute", lambda self, context: seen.update(self.env))
    shard = module.shard_environments(4, "manual__2025-03-17")[2]
    task = dag.get_task("enrich").unmap({"env": shard})
    assert type(task).__name__ == "MercadoLocalOperator" and task.task_id == "enrich"
    task.execute({})
    assert seen == {"WAREHOUSE_URL": "postgres://w", "MERCADO_SHARD": "2/4", "MERCADO_STAGE_ID": "manual__2025-03-17"}


def test_a_mapped_docker_instance_keeps_settings_private(load_dag, monkeypatch):
    from airflow.providers.docker.operators.docker import DockerOperator

    module, dag = load_dag(MERCADO_RUNNER="docker")
    seen = {}
    monkeypatch.setattr(module, "task_environment", lambda context=None: {"AWS_SECRET_ACCESS_KEY": "s3cr3t"})
    monkeypatch.setattr(DockerOperator, "execute",
                        lambda self, context: seen.update(plain=dict(self.environment), private=dict(self._private_environment)))
    shard = module.shard_environments(2, "manual__2025-03-17")[1]
    task = dag.get_task("gold").unmap({"environment": shard})
    assert type(task).__name__ == "MercadoDockerOperator"
    task.execute({})
    assert seen == {"plain": shard, "private": {"AWS_SECRET_ACCESS_KEY": "s3cr3t"}}


def test_local_commands_carry_the_run_date(load_dag):
    module, dag = load_dag(MERCADO_RUNNER="local", MERCADO_BIN_DIR="/opt/mercado/bin")
    context = {"run_date": module.run_date, "dag_run": None, "params": {"date": None},
               "data_interval_start": datetime(2025, 3, 17, tzinfo=UTC)}
    for task_id in BINARY_CHAIN:
        task = dag.get_task(task_id)
        bash_command = partial_kwargs(task)["bash_command"]
        assert bash_command == f"/opt/mercado/bin/mercado-task {task_id} --date '{module.RUN_DATE}'"
        rendered = task.render_template(bash_command, context)
        assert rendered == f"/opt/mercado/bin/mercado-task {task_id} --date '2025-03-17'"
    iceberg = dag.get_task("iceberg_commit")
    script = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "iceberg.sh"
    assert iceberg.render_template(iceberg.bash_command, context) == f"{script} commit --date '2025-03-17'"


SECRET = "s3cr3t-" + os.urandom(4).hex()


@pytest.mark.parametrize("runner", ["local", "docker"])
def test_settings_stay_out_of_template_fields(load_dag, runner):
    module, dag = load_dag(MERCADO_RUNNER=runner, AWS_SECRET_ACCESS_KEY=SECRET,
                           WAREHOUSE_URL=f"postgres://u:{SECRET}@db/wh")
    for task_id in DAG_CHAIN:
        task = dag.get_task(task_id)
        fields = partial_kwargs(task) if task.is_mapped else {name: getattr(task, name) for name in task.template_fields}
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
        if task.is_mapped:
            assert task.operator_class.__name__ == "MercadoDockerOperator"
            task = task.unmap({"environment": {"MERCADO_SHARD": "0/1", "MERCADO_STAGE_ID": "r"}})
        assert type(task).__name__ == "MercadoDockerOperator"
        assert task.image == "mercado-tasks:test"
        assert task.command == ["mercado-task", task_id, "--date", module.RUN_DATE]
        # Plain environment: a shard's settings, commit's count and stage id; nothing else.
        expected = {"sharded": {"MERCADO_SHARD", "MERCADO_STAGE_ID"}, "commit": {"MERCADO_SHARDS", "MERCADO_STAGE_ID"}}
        assert set(task.environment) == expected.get("sharded" if task_id in SHARDED else task_id, set()), task_id
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
    timeouts = {name: timedelta(minutes=t["timeout_minutes"]) for name, t in registry.items()}
    timeouts["shards"] = timedelta(minutes=5)
    for name in DAG_CHAIN:
        task = dag.get_task(name)
        assert task.execution_timeout == timeouts[name], name
        assert [type(cb).__name__ for cb in task.on_failure_callback] == ["FailureNotice"], name
    assert dag.dagrun_timeout == timedelta(minutes=90)


# A stand-in for mercado-task (and scripts/iceberg.sh): records the task, its date and the shard
# settings it was given, and prints a summary; extract's says the day has STUB_TRANSACTIONS
# transactions, except on 2025-03-18, when its summary line is garbled.
STUB = r"""#!/usr/bin/env bash
task="$1"; shift
day=""; while [ $# -gt 0 ]; do case "$1" in --date) day="$2"; shift 2 ;; *) shift ;; esac; done
printf '%s\t%s\t%s\t%s\t%s\n' "$task" "$day" "${MERCADO_SHARD:--}" "${MERCADO_STAGE_ID:--}" "${MERCADO_SHARDS:--}" >> "$STUB_LOG"
if [ "$task" = extract ] && [ "$day" = 2025-03-18 ]; then echo "not a summary"; exit 0; fi
rows=0; [ "$task" = extract ] && rows="$STUB_TRANSACTIONS"
echo "{\"task\":\"$task\",\"date\":\"$day\",\"status\":\"ok\",\"datasets\":{\"raw/dynamodb/transactions\":{\"rows_written\":$rows}}}"
"""

RUNS = """
import json, os, sys
from datetime import datetime, UTC
sys.path.insert(0, os.environ["DAGS"])
import mercado_daily
runs = {}
for day, conf in json.loads(os.environ["RUNS"]):
    run = mercado_daily.dag.test(logical_date=datetime.fromisoformat(day).replace(tzinfo=UTC), run_conf=conf)
    runs[day] = {"state": str(run.state), "run_id": run.run_id}
print(json.dumps(runs))
"""


def test_airflow_runs_the_shards(tmp_path):
    """The DAG run by Airflow itself (``dag.test``, in a process of its own on a throwaway metadata
    database), the binary a stand-in: the plan's choice reaches every mapped instance as its shard
    and the run's stage id, and commit is told the same count and stage id; a garbled extract summary
    gives one shard, the form's field wins."""
    stub = tmp_path / "bin" / "mercado-task"
    stub.parent.mkdir()
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / "calls.tsv"
    runs = [("2025-03-17", {"date": "2025-03-17"}), ("2025-03-18", {"date": "2025-03-18"}),
            ("2025-03-19", {"date": "2025-03-19", "shards": 2})]
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__UNIT_TEST_MODE="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path / 'airflow.db'}",
               AIRFLOW__CORE__DAGS_FOLDER=str(pathlib.Path(__file__).resolve().parents[1]),
               AIRFLOW__CORE__LOAD_EXAMPLES="False", DAGS=str(pathlib.Path(__file__).resolve().parents[1]),
               MERCADO_RUNNER="local", MERCADO_BIN_DIR=str(stub.parent), MERCADO_ICEBERG_SH=str(stub),
               MERCADO_RETRIES="0", MERCADO_SHARD_TRANSACTIONS="1000", MERCADO_MAX_SHARDS="16",
               STUB_LOG=str(log), STUB_TRANSACTIONS="2500", RUNS=json.dumps(runs))
    for name in ("MERCADO_SHARD", "MERCADO_SHARDS", "MERCADO_STAGE_ID"):
        env.pop(name, None)
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(RUNS)], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    calls = [line.split("\t") for line in log.read_text().splitlines()]
    for (day, _), shards in zip(runs, (3, 1, 2)):
        assert result[day]["state"] == "success", result
        run_id = result[day]["run_id"]
        mine = [c for c in calls if c[1] == day]
        # Each registry task ran once, each sharded one once per shard, in the chain's order.
        names = [c[0] for c in mine]
        assert names[:3] == ["extract", "clean_dimensions", "gold_dimensions"], names
        for task in SHARDED:
            given = sorted((c[2], c[3]) for c in mine if c[0] == task)
            assert given == [(f"{i}/{shards}", run_id) for i in range(shards)], (day, task, given)
        # (iceberg_commit runs the stand-in as `iceberg.sh commit`: the second "commit", told nothing.)
        commits = [c for c in mine if c[0] == "commit"]
        assert commits[0][2:] == ["-", run_id, str(shards)], commits
        assert commits[1][2:] == ["-", "-", "-"], commits
        assert names.index("commit") > max(i for i, n in enumerate(names) if n in SHARDED)
        for c in mine:
            if c[0] not in SHARDED:
                assert c[2] == "-", c
