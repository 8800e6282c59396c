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

**Backfills** run several dates at once (``max_active_runs``). ``gold`` compares the date's
dimensions with the previous date's snapshot, so it waits for the previous run's ``gold``
(``depends_on_past``): choose
"reprocess" behaviour *failed* or *completed* when creating a backfill (Airflow requires it for such
DAGs). ``load_redshift`` runs one date at a time, and the warehouse writers also hold a database lock,
so loads started outside Airflow are safe too.

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

import os
import shlex
import tomllib
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path
from datetime import date, datetime, timedelta, UTC

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param
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
    """One pipeline task: its name (= the ``mercado-task`` subcommand = task_id), upstream task,
    extra arguments, and how Airflow must order it across dates."""

    name: str
    upstream: str | None
    args: tuple[str, ...] = field(default=())
    # Reads the previous date's output: wait for the previous run's instance of this task.
    depends_on_past: bool = False
    # At most this many dates at once (None: no limit beyond max_active_runs).
    max_active_per_dag: int | None = None
    # Airflow's execution_timeout: a try running longer is killed and counts as failed.
    timeout_minutes: int = 60
    # What runs it: ``mercado-task`` (the binary) or ``iceberg`` (scripts/iceberg.sh, Python).
    program: str = BINARY

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
    """The registry's tasks in run order, each after the one before it."""
    with open(path, "rb") as f:
        entries = tomllib.load(f)["task"]
    names = [t["name"] for t in entries]
    return tuple(
        TaskSpec(
            t["name"],
            names[i - 1] if i else None,
            depends_on_past=bool(t.get("depends_on_past", False)),
            max_active_per_dag=t.get("max_active_per_dag"),
            timeout_minutes=int(t.get("timeout_minutes", 60)),
            program=t.get("program", BINARY),
        )
        for i, t in enumerate(entries)
    )


# The pipeline, in order.
TASKS: tuple[TaskSpec, ...] = load_tasks(registry_path())

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
    # Read by dags/mercado_iceberg_maintenance.py (its params' defaults).
    "MERCADO_ICEBERG_KEEP_DAYS",
    "MERCADO_ICEBERG_ORPHAN_HOURS",
)

DATE_PARAM = "date"
REFRESH_PARAM = "refresh_snapshot"
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
        notice = {
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "date": day,
            "run_id": ti.run_id,
            "try": ti.try_number,
            "error": error[-1] if error else "",
            "log_url": ti.log_url,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        text = (f"{notice['dag_id']}: {notice['task_id']} failed for {day} (try {notice['try']}): "
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


def make_task(spec: TaskSpec, runner: str):
    ordering: dict[str, Any] = {
        "depends_on_past": spec.depends_on_past,
        "execution_timeout": timedelta(minutes=spec.timeout_minutes),
    }
    if spec.max_active_per_dag:
        ordering["max_active_tis_per_dag"] = spec.max_active_per_dag
    if spec.program == "iceberg" and runner != "docker":
        # The Iceberg commit (pyiceberg) as a local process: its pinned venv is made by the script.
        script = setting("MERCADO_ICEBERG_SH", os.path.join(os.path.dirname(__file__), "..", "scripts", ICEBERG))
        return MercadoLocalOperator(
            task_id=spec.name,
            bash_command=shlex.join([os.path.normpath(script), *command(spec)[1:]]),
            append_env=True,
            **ordering,
        )
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
        return MercadoDockerOperator(
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
    if runner == "local":
        bin_dir = setting("MERCADO_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "target", "debug"))
        argv = [os.path.join(bin_dir, BINARY), *command(spec)[1:]]
        return MercadoLocalOperator(
            task_id=spec.name,
            # BashOperator keeps the last stdout line as the XCom: the task's JSON summary.
            bash_command=shlex.join(argv),
            append_env=True,
            **ordering,
        )
    raise ValueError(f"MERCADO_RUNNER must be docker or local, not {runner!r}")


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
    },
    tags=["mercado", "lake", "warehouse"],
    doc_md=f"{__doc__}\n**Tasks** (from the registry): {' → '.join(spec.name for spec in TASKS)}\n",
) as dag:
    runner = setting("MERCADO_RUNNER", "local")
    built = {spec.name: make_task(spec, runner) for spec in TASKS}
    for spec in TASKS:
        if spec.upstream:
            built[spec.upstream] >> built[spec.name]
