"""Mercado's daily pipeline: one run = one closed UTC day D.

The tasks, their order and how Airflow orders them across dates come from the task registry,
``tasks/registry.toml`` (the one list of tasks; ``TASKS`` below is read from it), and one factory.
Each task runs as ``mercado-task <task> --date D`` (one Rust binary for every task), and the Iceberg
commit (``program = "iceberg"``) as ``scripts/iceberg.sh commit --date D``; the last stdout line is a
JSON summary, which Airflow keeps as the task's XCom.

**Which day a run processes** (``run_date``, the one place that decides):

* the ``date`` field of the trigger form (``conf={"date": "YYYY-MM-DD"}``), when given;
* otherwise the day of the run's data interval: a scheduled run fires at 00:00 UTC after day D
  closes and processes D; a backfill run processes each day of its range; a manual run without a
  date processes the last complete UTC day before its logical date (yesterday, for "now");
* a manual run with neither a logical date nor a date processes the UTC day before it was queued.

**Schedule**: daily at 00:00 UTC, catchup off (history comes by backfill, so unpausing creates one
run, not one per day since the start date). ``MERCADO_START_DATE`` and ``MERCADO_CATCHUP`` change that.

**Backfills** run several dates at once (``max_active_runs``). ``gold_dimensions`` compares the
date's dimensions with the previous date's snapshot, so it waits for the previous run's
``gold_dimensions`` (``depends_on_past``): choose
"reprocess" behaviour *failed* or *completed* when creating a backfill (Airflow requires it for such
DAGs). ``load_redshift`` runs one date at a time, and the warehouse writers also hold a database lock,
so loads started outside Airflow are safe too. On CeleryExecutor these two run from a queue of their
own (``MERCADO_CHAIN_QUEUE``, ``chain``), which every worker consumes besides the default one: see
``chain_queue``. Free task slots go to the furthest-along task of the
earliest date (``weight_rule="upstream"``): each date finishes as soon as it can, rather than every
date's extract first.

**Shards**: one day's transactions are split into N shards, and each task the registry marks
``sharded`` (``clean``, ``enrich``, ``gold``) is a mapped task: one instance per shard
(``clean[0]`` … ``clean[N-1]``), each running ``mercado-task <task> --date D`` with
``MERCADO_SHARD=I/N`` and ``MERCADO_STAGE_ID=<the run's run_id>`` in its environment: with N > 1 its
outputs are staged under the run, not published (with one shard a task publishes as an unsharded one
does). The ``shards`` task (a Python task in Airflow's worker, not a registry task), right after
``extract``, chooses N: the trigger form's ``shards`` field (1 to 16) when given; otherwise one shard
per ``MERCADO_SHARD_TRANSACTIONS`` (1,000,000) of the day's transactions, as ``extract``'s summary
(its XCom) counts them, at most ``MERCADO_MAX_SHARDS`` (16) and at least one (one, with a warning in
its log, when that summary cannot be read). The catalogue-sized work is done once per date whatever N is, by
``clean_dimensions`` and ``gold_dimensions`` before the shards start. Every instance of a stage waits
for every instance of the one before it, and ``commit`` (``MERCADO_SHARDS=N``, the same stage id) runs
only when every shard succeeded: it merges the shards' staged outputs and publishes each dataset of
the date, so a reader sees the whole date or the date before it, never some shards. A failed shard is
retried alone; nothing after it runs until it succeeds. ``load_redshift`` then loads the committed
date in one transaction, as for an unsharded run.

**Snapshots**: ``extract`` reads a closed day's sources once; later runs of that day (retries,
re-runs, backfills) reuse the kept raw partitions. The ``refresh_snapshot`` param reads them again.

**Runner** (environment variable ``MERCADO_RUNNER``): ``local`` (default) runs the built binary in
``MERCADO_BIN_DIR`` as a subprocess (the Iceberg step as ``scripts/iceberg.sh``); ``docker`` runs it in
the tasks image (``MERCADO_TASKS_IMAGE``; the Iceberg step in ``MERCADO_ICEBERG_IMAGE``) through
DockerOperator, on the engine at ``MERCADO_DOCKER_URL``.

**Settings and secrets**: the tasks read ``PASSED_ENV`` (database URLs, AWS endpoint and keys, bucket,
table…) from the worker's environment, or else from Airflow Variables of the same name. They are
resolved when the task executes, after its templates were rendered, and passed to the process (or to
the container as DockerOperator's ``private_environment``), so no value shows in the UI's rendered
templates. The only I/O at import is reading the registry, a small local file (``MERCADO_TASK_REGISTRY``,
else ``tasks/registry.toml`` of the checkout, else ``registry.toml`` beside this file, as in the image).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path
from datetime import date, datetime, timedelta, UTC

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task
from airflow.sdk.bases.notifier import BaseNotifier

DAG_ID = "mercado_daily"
# The binary that runs every task: ``mercado-task <task> --date D`` (tasks/bin).
BINARY = "mercado-task"
# The Iceberg step's command (python/mercado_iceberg through its pinned venv) with the local
# runner: ``iceberg.sh commit --date D``; with the docker runner the Iceberg image's entry point
# takes the same arguments (``commit --date D``).
ICEBERG = "iceberg.sh"


@dataclass(frozen=True)
class TaskSpec:
    """One pipeline task: its name (= the ``mercado-task`` subcommand = task_id), upstream tasks,
    extra arguments, and how Airflow must order it across dates."""

    name: str
    # The registry tasks it runs after: its ``after``, else the one above it.
    upstreams: tuple[str, ...]
    args: tuple[str, ...] = field(default=())
    # Reads the previous date's output: wait for the previous run's instance of this task.
    depends_on_past: bool = False
    # At most this many dates at once (None: no limit beyond max_active_runs).
    max_active_per_dag: int | None = None
    # Airflow's execution_timeout: a try running longer is killed and counts as failed.
    timeout_minutes: int = 60
    # What runs it: ``mercado-task`` (the binary) or ``iceberg`` (scripts/iceberg.sh, Python).
    program: str = BINARY
    # One instance per shard of the day's transactions (a mapped task over the ``shards`` plan).
    sharded: bool = False

    @property
    def argv(self) -> list[str]:
        """``mercado-task <name>``, or for the Iceberg step ``iceberg.sh <name without iceberg_>``."""
        if self.program == "iceberg":
            return [ICEBERG, self.name.removeprefix("iceberg_")]
        return [BINARY, self.name]


def registry_path() -> Path:
    """Where the task registry is: the environment's choice, the checkout's, or the image's copy."""
    if os.environ.get("MERCADO_TASK_REGISTRY"):
        return Path(os.environ["MERCADO_TASK_REGISTRY"])
    here = Path(__file__).resolve().parent
    checkout = here.parent / "tasks" / "registry.toml"
    return checkout if checkout.exists() else here / "registry.toml"


def load_tasks(path: Path) -> tuple[TaskSpec, ...]:
    """The registry's tasks in run order, each after the one before it or the tasks its ``after`` names."""
    with open(path, "rb") as f:
        entries = tomllib.load(f)["task"]
    names = [t["name"] for t in entries]
    return tuple(
        TaskSpec(
            t["name"],
            tuple(t.get("after", [names[i - 1]] if i else [])),
            depends_on_past=bool(t.get("depends_on_past", False)),
            max_active_per_dag=t.get("max_active_per_dag"),
            timeout_minutes=int(t.get("timeout_minutes", 60)),
            program=t.get("program", BINARY),
            sharded=bool(t.get("sharded", False)),
        )
        for i, t in enumerate(entries)
    )


# The pipeline, in order.
TASKS: tuple[TaskSpec, ...] = load_tasks(registry_path())

# The shard plan: an Airflow task of this file (not of the registry), right after this registry task,
# whose return value the sharded tasks are mapped over.
SHARDS_TASK = "shards"
PLAN_AFTER = "extract"
# The registry task that merges and publishes the shards' staged outputs (``MERCADO_SHARDS``,
# ``MERCADO_STAGE_ID``).
COMMIT_TASK = "commit"
# The dataset of extract's summary whose rows_written is the day's transactions.
TRANSACTIONS_DATASET = "raw/dynamodb/transactions"
# The most shards the trigger form accepts.
SHARDS_LIMIT = 16


def dag_task_ids(tasks: tuple[TaskSpec, ...]) -> tuple[str, ...]:
    """The DAG's task ids in run order: the registry's, with the shard plan after ``PLAN_AFTER``."""
    ids: list[str] = []
    for spec in tasks:
        ids.append(spec.name)
        if spec.name == PLAN_AFTER:
            ids.append(SHARDS_TASK)
    if SHARDS_TASK not in ids:
        raise ValueError(f"the registry has no {PLAN_AFTER!r} task for the shard plan to follow")
    return tuple(ids)


def dag_upstreams(tasks: tuple[TaskSpec, ...]) -> dict[str, frozenset[str]]:
    """Each DAG task's upstream task ids: the registry's, with the shard plan between ``PLAN_AFTER`` and
    what follows it (a sharded task also follows the plan it is mapped over, by its argument)."""
    wired = {SHARDS_TASK: frozenset({PLAN_AFTER})}
    for spec in tasks:
        wired[spec.name] = frozenset(SHARDS_TASK if up == PLAN_AFTER else up for up in spec.upstreams)
    return wired


# The DAG's task ids, in run order (a sharded task's instances each after every instance of its
# upstream tasks).
DAG_TASK_IDS: tuple[str, ...] = dag_task_ids(TASKS)
# What each runs after.
DAG_UPSTREAMS: dict[str, frozenset[str]] = dag_upstreams(TASKS)
# The registry's sharded tasks: mapped, one instance per shard.
SHARDED: frozenset[str] = frozenset(spec.name for spec in TASKS if spec.sharded)


def chain_text() -> str:
    """The DAG's tasks as ``extract → shards → … → commit → iceberg_commit ∥ load_redshift → …``: a task
    with the same upstream tasks as the one before it runs beside it."""
    text = ""
    for i, task_id in enumerate(DAG_TASK_IDS):
        beside = i and DAG_UPSTREAMS[task_id] == DAG_UPSTREAMS[DAG_TASK_IDS[i - 1]]
        text += (" ∥ " if beside else " → ") * bool(i) + (f"{task_id}[N]" if task_id in SHARDED else task_id)
    return text

# Settings the binaries read from their environment (see .env.example), resolved when the task
# executes: from the worker's environment, else an Airflow Variable of the same name.
PASSED_ENV = (
    "DATABASE_URL",
    "WAREHOUSE_URL",
    "MERCADO_WAREHOUSE_TARGET",
    "MERCADO_REDSHIFT_IAM_ROLE",
    "MERCADO_LAKE_BUCKET",
    "MERCADO_DDB_TABLE",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "RUST_LOG",
    # The tasks' bounds on every wait (tasks/lake/src/cli.rs, `Waits`), for either runner.
    "MERCADO_PG_CONNECT_TIMEOUT_SECONDS",
    "MERCADO_PG_LOCK_TIMEOUT_SECONDS",
    "MERCADO_PG_STATEMENT_TIMEOUT_SECONDS",
    "MERCADO_AWS_ATTEMPT_TIMEOUT_SECONDS",
    "MERCADO_AWS_OPERATION_TIMEOUT_SECONDS",
    "MERCADO_AWS_MAX_ATTEMPTS",
    # The Iceberg catalog (python/mercado_iceberg/settings.py).
    "MERCADO_ICEBERG_CATALOG",
    "ICEBERG_CATALOG_URL",
    "MERCADO_ICEBERG_REST_URI",
)

# The DAG's own settings, read when the file is parsed (``setting``). scripts/airflow.sh restarts
# Airflow's components when one of these or of ``PASSED_ENV`` changed since they started (it reads
# both tuples from this file), so a parsed DAG never mixes two configurations.
SETTINGS = (
    "MERCADO_RUNNER",
    "MERCADO_BIN_DIR",
    "MERCADO_TASKS_IMAGE",
    "MERCADO_ICEBERG_IMAGE",
    "MERCADO_DOCKER_URL",
    "MERCADO_DOCKER_NETWORK",
    "MERCADO_START_DATE",
    "MERCADO_CATCHUP",
    "MERCADO_MAX_ACTIVE_RUNS",
    "MERCADO_RETRIES",
    "MERCADO_RETRY_DELAY_SECONDS",
    "MERCADO_TASK_REGISTRY",
    "MERCADO_DAGRUN_TIMEOUT_MINUTES",
    "MERCADO_FAILURE_LOG",
    "MERCADO_FAILURE_WEBHOOK",
    "MERCADO_ICEBERG_SH",
    # CeleryExecutor's queue for the tasks later dates wait on (``chain_queue``); empty: the default.
    "MERCADO_CHAIN_QUEUE",
    # The shard plan's automatic choice: one shard per this many of the day's transactions, at most
    # this many shards.
    "MERCADO_SHARD_TRANSACTIONS",
    "MERCADO_MAX_SHARDS",
    # Read by dags/mercado_iceberg_maintenance.py (its params' defaults).
    "MERCADO_ICEBERG_KEEP_DAYS",
    "MERCADO_ICEBERG_ORPHAN_HOURS",
)

DATE_PARAM = "date"
REFRESH_PARAM = "refresh_snapshot"
SHARDS_PARAM = "shards"
# DAG params that reach the tasks as settings: the trigger form's field → the environment variable.
PARAM_ENV = {REFRESH_PARAM: "MERCADO_EXTRACT_REFRESH"}


def setting(name: str, default: str) -> str:
    if name not in SETTINGS:
        raise KeyError(f"{name} is not in SETTINGS (scripts/airflow.sh restarts Airflow when those change)")
    return os.environ.get(name, default)


def run_date(params, dag_run, data_interval_start) -> str:
    """The UTC day (YYYY-MM-DD) a run processes; see the module docstring."""
    chosen = (params or {}).get(DATE_PARAM)
    if chosen:
        return date.fromisoformat(str(chosen).strip()).isoformat()
    if data_interval_start:
        return data_interval_start.astimezone(UTC).date().isoformat()
    queued = getattr(dag_run, "run_after", None)
    if not queued:
        raise ValueError("this run has no date, data interval or run_after; trigger it with a date")
    return (queued.astimezone(UTC) - timedelta(days=1)).date().isoformat()


RUN_DATE = "{{ run_date(params, dag_run, data_interval_start) }}"

# What ``commit`` is told (templated, rendered when it runs): how many shards the plan chose, and the
# stage id the shards staged their outputs under, the run's run_id as in ``shard_environments``.
COMMIT_ENV = {
    "MERCADO_SHARDS": f"{{{{ ti.xcom_pull(task_ids='{SHARDS_TASK}', key='count') }}}}",
    "MERCADO_STAGE_ID": "{{ run_id }}",
}


def plan_shards(param: int | None, day_transactions: int | None, per_shard: int, max_shards: int) -> int:
    """How many shards a run splits its day into: the trigger form's ``shards`` when given;
    otherwise one per ``per_shard`` of the day's transactions (rounded up), between 1 and
    ``max_shards`` (1 when the day's count is unknown)."""
    if per_shard < 1 or max_shards < 1:
        raise ValueError(f"per_shard ({per_shard}) and max_shards ({max_shards}) must be at least 1")
    if param is not None:
        if isinstance(param, bool) or int(param) != param or param < 1:
            raise ValueError(f"shards must be a whole number of at least 1, not {param!r}")
        return int(param)
    if not day_transactions or day_transactions < 0:
        return 1
    return max(1, min(max_shards, -(-day_transactions // per_shard)))


def day_transactions(summary: Any) -> int | None:
    """The day's raw transactions from ``extract``'s XCom (its JSON summary line: a string, JSON
    encoded once or twice, or the parsed object), or None when it does not say."""
    value = summary
    for _ in range(3):
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, list) and value:
            value = value[-1]  # a runner that kept every line: the summary is the last
        if not isinstance(value, str):
            break
        lines = value.strip().splitlines()
        if not lines:
            return None
        try:
            value = json.loads(lines[-1])
        except ValueError:
            return None
    try:
        rows = value["datasets"][TRANSACTIONS_DATASET]["rows_written"]
    except (KeyError, TypeError, IndexError):
        return None
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        return None
    return rows


def shard_environments(count: int, stage_id: str) -> list[dict[str, str]]:
    """Each shard's settings, one dict per mapped instance (its ``env``, or the container's
    ``environment``): which shard of how many, and the stage its outputs go to until ``commit``."""
    return [{"MERCADO_SHARD": f"{i}/{count}", "MERCADO_STAGE_ID": stage_id} for i in range(count)]


def plan_task(per_shard: int, max_shards: int, params=None, ti=None, run_id=None) -> list[dict[str, str]]:
    """The ``shards`` task: chooses N (``plan_shards``) from the form's field and extract's summary,
    and returns the N shards' settings, over which the sharded tasks are mapped. N is also pushed as
    the XCom ``count`` (read by ``commit``). (Airflow cannot map over a key of a dict returned with
    ``multiple_outputs``: it maps over the return value only, hence a list and a separate key.)"""
    log = logging.getLogger(__name__)
    chosen = (params or {}).get(SHARDS_PARAM)
    transactions = None
    if chosen is None:
        summary = ti.xcom_pull(task_ids=PLAN_AFTER) if ti is not None else None
        transactions = day_transactions(summary)
        if transactions is None:
            log.warning("%s's summary does not say the day's transactions (%s rows_written); one shard. "
                        "Its XCom: %.300r", PLAN_AFTER, TRANSACTIONS_DATASET, summary)
    count = plan_shards(chosen, transactions, per_shard, max_shards)
    if not run_id:
        raise ValueError("the run has no run_id to stage the shards' outputs under")
    how = (f"the trigger form's {SHARDS_PARAM}" if chosen is not None else
           f"{transactions} transactions, {per_shard} a shard, at most {max_shards}" if transactions is not None
           else "the day's size unknown")
    log.info("%d shard(s) (%s); stage id %s", count, how, run_id)
    if ti is not None:
        ti.xcom_push(key="count", value=count)
    return shard_environments(count, run_id)


def command(spec: TaskSpec) -> list[str]:
    """The task's command line (templated): ``mercado-task <name> --date D <args…>``."""
    return [*spec.argv, "--date", RUN_DATE, *spec.args]


def task_environment(context=None) -> dict[str, str]:
    """The tasks' settings, resolved at execution (never rendered into a template field), and the
    run's params that are settings (``PARAM_ENV``)."""
    env = {}
    params = (context or {}).get("params") or {}
    for param, name in PARAM_ENV.items():
        if params.get(param):
            env[name] = "true"
    for name in PASSED_ENV:
        value = os.environ.get(name)
        if value is None:
            from airflow.sdk import Variable

            value = Variable.get(name, default=None)
        if value:
            env[name] = value
    return env


class MercadoLocalOperator(BashOperator):
    """The task's binary as a subprocess; its settings are added to the environment only when it
    executes, after the rendered fields were recorded."""

    def execute(self, context):
        self.env = {**task_environment(context), **(self.env or {})}
        return super().execute(context)


class FailureNotice(BaseNotifier):
    """``on_failure_callback`` of every task (an Airflow notifier: add or swap others, such as the
    Slack or SMTP providers' notifiers, in the DAG's ``default_args``). When a task fails for good it
    says which task failed for which day, on which try, with the error and the log's address: in the
    task's log, as one JSON line appended to ``MERCADO_FAILURE_LOG`` (default
    ``$AIRFLOW_HOME/mercado-failures.jsonl``) and, when ``MERCADO_FAILURE_WEBHOOK`` is set, POSTed as
    ``{"text": …}`` to that URL (a Slack-compatible incoming webhook), within 10 s."""

    def notify(self, context):
        import json
        import urllib.request

        ti = context["ti"]
        day = run_date(context.get("params"), context.get("dag_run"), context.get("data_interval_start"))
        error = str(context.get("exception") or "").splitlines()
        map_index = getattr(ti, "map_index", -1)
        map_index = map_index if isinstance(map_index, int) else -1
        notice = {
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            # A sharded task's instance: its shard (-1: not a mapped task).
            "map_index": map_index,
            "date": day,
            "run_id": ti.run_id,
            "try": ti.try_number,
            "error": error[-1] if error else "",
            "log_url": ti.log_url,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        which = f"{ti.task_id}[{map_index}]" if map_index >= 0 else ti.task_id
        text = (f"{notice['dag_id']}: {which} failed for {day} (try {notice['try']}): "
                f"{notice['error'] or 'see its log'}; log: {notice['log_url']}")
        self.log.error("%s", text)
        from airflow.configuration import AIRFLOW_HOME

        path = setting("MERCADO_FAILURE_LOG", "") or os.path.join(AIRFLOW_HOME, "mercado-failures.jsonl")
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(notice) + "\n")
        webhook = setting("MERCADO_FAILURE_WEBHOOK", "")
        if webhook:
            request = urllib.request.Request(webhook, data=json.dumps({"text": text, **notice}).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (the operator's URL)
                    pass
            except OSError as e:
                self.log.warning("the failure webhook did not answer: %s", e)


def chain_queue(spec: TaskSpec) -> str | None:
    """The Celery queue of a task that later dates wait on (``depends_on_past``, or one date at a
    time): ``MERCADO_CHAIN_QUEUE`` (default ``chain``), else None (Airflow's default queue).

    In a backfill, these tasks are chains across dates (each date's ``gold_dimensions`` after the one
    before, ``load_redshift`` one at a time): their waits add up over every date, while the broker's
    default queue is first in, first out, behind every other date's queued work. In a queue of their own,
    which every worker also consumes (``scripts/airflow.sh worker``; Celery takes from a worker's queues in
    turn), the next link starts at the next free slot. LocalExecutor ignores queues."""
    if not (spec.depends_on_past or spec.max_active_per_dag):
        return None
    return setting("MERCADO_CHAIN_QUEUE", "chain") or None


def make_task(spec: TaskSpec, runner: str, shards=None):
    """The task of a registry entry for the runner; a sharded one mapped over ``shards`` (the plan's
    output: one instance per shard, its settings in ``env`` or the container's ``environment``)."""
    ordering: dict[str, Any] = {
        "depends_on_past": spec.depends_on_past,
        "execution_timeout": timedelta(minutes=spec.timeout_minutes),
    }
    if spec.max_active_per_dag:
        ordering["max_active_tis_per_dag"] = spec.max_active_per_dag
    if queue := chain_queue(spec):
        ordering["queue"] = queue
    if spec.sharded and shards is None:
        raise ValueError(f"{spec.name} is sharded: it needs the shard plan's output to map over")
    if spec.sharded and spec.program == "iceberg":
        raise ValueError(f"{spec.name}: the Iceberg steps are not sharded")
    if spec.program == "iceberg" and runner != "docker":
        # The Iceberg commit (pyiceberg) as a local process: its pinned venv is made by the script.
        script = setting("MERCADO_ICEBERG_SH", os.path.join(os.path.dirname(__file__), "..", "scripts", ICEBERG))
        return MercadoLocalOperator(
            task_id=spec.name,
            bash_command=shlex.join([os.path.normpath(script), *command(spec)[1:]]),
            append_env=True,
            **ordering,
        )
    # Plain (templated, shown in the UI) settings of a task that is not mapped: commit's.
    plain_env = dict(COMMIT_ENV) if spec.name == COMMIT_TASK else None
    if runner == "docker":
        from airflow.providers.docker.operators.docker import DockerOperator

        class MercadoDockerOperator(DockerOperator):
            """The task in the tasks image; settings go in as ``private_environment``."""

            def execute(self, context):
                # DockerOperator keeps its (non-templated, never rendered) private_environment here.
                self._private_environment = {**task_environment(context), **(self._private_environment or {})}
                return super().execute(context)

        # The Rust tasks in the tasks image; the Iceberg step (pyiceberg) in its own image, whose
        # entry point is `python -m mercado_iceberg` (docker/iceberg-local.Dockerfile).
        iceberg = spec.program == "iceberg"
        docker_args: dict[str, Any] = dict(
            task_id=spec.name,
            image=(setting("MERCADO_ICEBERG_IMAGE", "mercado-iceberg:0.1.0") if iceberg
                   else setting("MERCADO_TASKS_IMAGE", "mercado-tasks:0.1.0")),
            command=command(spec)[1:] if iceberg else command(spec),
            network_mode=setting("MERCADO_DOCKER_NETWORK", "host"),
            # scripts/airflow.sh sets the project's engine (.local/docker/docker.sock).
            docker_url=setting("MERCADO_DOCKER_URL", "unix:///var/run/docker.sock"),
            auto_remove="success",
            mount_tmp_dir=False,
            # The last line of the container's output (the JSON summary) becomes the XCom.
            do_xcom_push=True,
            xcom_all=False,
            **ordering,
        )
        if spec.sharded:
            # One container per shard; the shard's settings are its plain (templated) environment.
            return MercadoDockerOperator.partial(**docker_args).expand(environment=shards)
        if plain_env:
            docker_args["environment"] = plain_env
        return MercadoDockerOperator(**docker_args)
    if runner == "local":
        bin_dir = setting("MERCADO_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "target", "debug"))
        argv = [os.path.join(bin_dir, BINARY), *command(spec)[1:]]
        local_args: dict[str, Any] = dict(
            task_id=spec.name,
            # BashOperator keeps the last stdout line as the XCom: the task's JSON summary.
            bash_command=shlex.join(argv),
            append_env=True,
            **ordering,
        )
        if spec.sharded:
            # One process per shard; the shard's settings in its env (merged at execute, below the
            # resolved PASSED_ENV, by MercadoLocalOperator.execute of each mapped instance).
            return MercadoLocalOperator.partial(**local_args).expand(env=shards)
        return MercadoLocalOperator(**local_args, env=plain_env)
    raise ValueError(f"MERCADO_RUNNER must be docker or local, not {runner!r}")


# The shard plan's automatic choice (``plan_shards``): one shard per this many of the day's
# transactions, at most this many shards.
SHARD_TRANSACTIONS = int(setting("MERCADO_SHARD_TRANSACTIONS", "1000000"))
MAX_SHARDS = int(setting("MERCADO_MAX_SHARDS", str(SHARDS_LIMIT)))
if SHARD_TRANSACTIONS < 1 or MAX_SHARDS < 1:
    raise ValueError("MERCADO_SHARD_TRANSACTIONS and MERCADO_MAX_SHARDS must be at least 1")

with DAG(
    dag_id=DAG_ID,
    description="Mercado: one closed UTC day from the OLTP stores through the lake into the warehouse",
    # Data intervals: the run that fires at 00:00 UTC after day D closes covers [D, D+1).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime.fromisoformat(setting("MERCADO_START_DATE", "2025-01-01")).replace(tzinfo=UTC),
    catchup=setting("MERCADO_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=int(setting("MERCADO_MAX_ACTIVE_RUNS", "4")),
    # A run still running after this is failed (its running tasks stopped): nothing waits forever.
    dagrun_timeout=timedelta(minutes=int(setting("MERCADO_DAGRUN_TIMEOUT_MINUTES", "360"))),
    user_defined_macros={"run_date": run_date},
    params={
        DATE_PARAM: Param(
            None,
            type=["null", "string"],
            format="date",
            title="Day to process (UTC)",
            description=(
                "Leave empty to process the run's data interval: for a manual run, the last complete "
                "UTC day before its logical date (yesterday, when triggered now)."
            ),
        ),
        SHARDS_PARAM: Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=SHARDS_LIMIT,
            title="Shards (how many parts the day's transactions are split into)",
            description=(
                f"{', '.join(sorted(SHARDED))} run once per shard, side by side, and {COMMIT_TASK} "
                "publishes the date when every shard succeeded. Leave empty to choose from the day's "
                f"size: one shard per {SHARD_TRANSACTIONS:,} transactions (MERCADO_SHARD_TRANSACTIONS), "
                f"at most {MAX_SHARDS} (MERCADO_MAX_SHARDS)."
            ),
        ),
        REFRESH_PARAM: Param(
            False,
            type="boolean",
            title="Read the sources again (a correction)",
            description=(
                "A closed day is read from PostgreSQL and DynamoDB once, by its first run after it "
                "ended, and every later run reuses that snapshot, so re-runs and backfills give the "
                "same history. Tick to take it again (extract --refresh; the audit records it)."
            ),
        ),
    },
    default_args={
        "owner": "data-engineering",
        "retries": int(setting("MERCADO_RETRIES", "2")),
        "retry_delay": timedelta(seconds=int(setting("MERCADO_RETRY_DELAY_SECONDS", "30"))),
        # A multiplier since Airflow 3 (True is 1.0: no backoff): 30 s, then 60 s, each plus jitter.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "on_failure_callback": [FailureNotice()],
        # A task's priority is the sum of its upstream tasks' (Airflow's "upstream" rule): with many
        # runs at once (a backfill) free slots go to the furthest-along task, earliest date first, so
        # dates finish in order and the chains across dates (gold_dimensions' depends_on_past,
        # load_redshift one date at a time) never wait behind later dates' extracts.
        "weight_rule": "upstream",
    },
    tags=["mercado", "lake", "warehouse"],
    doc_md=(f"{__doc__}\n**Tasks** (from the registry, and the shard plan; ``[N]``: one instance per shard, "
            f"``∥``: side by side): {chain_text()}\n"),
) as dag:
    runner = setting("MERCADO_RUNNER", "local")
    # The plan (a Python task in the worker): its return value is the list the sharded tasks map over.
    plan = task(task_id=SHARDS_TASK, execution_timeout=timedelta(minutes=5))(plan_task)(
        per_shard=SHARD_TRANSACTIONS, max_shards=MAX_SHARDS)
    built: dict[str, Any] = {SHARDS_TASK: plan}
    built.update({spec.name: make_task(spec, runner, plan) for spec in TASKS})
    for downstream, upstreams in DAG_UPSTREAMS.items():
        for upstream in sorted(upstreams):
            built[upstream] >> built[downstream]
