"""Mercado's daily pipeline: one run = one logical date D.

extract → clean → enrich → gold → load_redshift → reconcile → marts

Each task is one Rust binary (tasks/<name>/), called with ``--date D``; its last stdout line is a JSON
summary, which Airflow keeps as the task's XCom. The tasks come from ``TASKS`` below and one factory,
so adding a task is one entry there (plus its crate and a README line).

Runner, by configuration (environment variable or Airflow Variable ``MERCADO_RUNNER``):

* ``docker`` — DockerOperator with the tasks image (``MERCADO_TASKS_IMAGE``);
* ``local`` — the same command as a subprocess of the built binary (``MERCADO_BIN_DIR``).

Nothing here does I/O at import: settings are read from the environment when the DAG is parsed,
Airflow Variables and connections only when a task runs (through templates).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airflow.sdk import DAG

DAG_ID = "mercado_daily"


@dataclass(frozen=True)
class TaskSpec:
    """One pipeline task: its name (= binary = task_id), extra arguments, upstream task."""

    name: str
    upstream: str | None
    args: tuple[str, ...] = field(default=())

    @property
    def binary(self) -> str:
        return self.name


# The pipeline, in order. Adding a task: one entry here.
TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("extract", None),
    TaskSpec("clean", "extract"),
    TaskSpec("enrich", "clean"),
    TaskSpec("gold", "enrich"),
    TaskSpec("load_redshift", "gold"),
    TaskSpec("reconcile", "load_redshift"),
    TaskSpec("marts", "reconcile"),
)

# Settings the binaries read from their environment (see .env.example). Passed through to the
# task's process or container; secrets come from the scheduler's environment or Airflow
# Variables of the same name, never from this file.
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
)


def setting(name: str, default: str) -> str:
    return os.environ.get(name, default)


def run_date(dag_run, logical_date) -> str:
    """The date a run processes, derived in this one place.

    A scheduled or backfill run has a logical date: the day it covers. A manual run in Airflow 3 may
    have none; it then processes the day of its own ``run_after``. Never empty.
    """
    when = logical_date or getattr(dag_run, "logical_date", None) or getattr(dag_run, "run_after", None)
    if when is None:
        raise ValueError("this run has neither a logical date nor run_after; trigger it with a logical date")
    return when.strftime("%Y-%m-%d")


RUN_DATE = "{{ run_date(dag_run, logical_date) }}"


def command(spec: TaskSpec) -> list[str]:
    """The task's command line (templated): ``<binary> --date D <args…>``."""
    return [spec.binary, "--date", RUN_DATE, *spec.args]


def environment() -> dict[str, str]:
    """What the task's process sees: each passed setting, from the scheduler's environment or else
    an Airflow Variable of the same name (resolved when the task runs)."""
    env = {}
    for name in PASSED_ENV:
        if name in os.environ:
            env[name] = os.environ[name]
        else:
            env[name] = "{{ var.value.get('%s', '') }}" % name
    return env


def make_task(spec: TaskSpec, runner: str):
    if runner == "docker":
        from airflow.providers.docker.operators.docker import DockerOperator

        return DockerOperator(
            task_id=spec.name,
            image=setting("MERCADO_TASKS_IMAGE", "mercado-tasks:0.1.0"),
            command=command(spec),
            environment=environment(),
            network_mode=setting("MERCADO_DOCKER_NETWORK", "host"),
            docker_url=setting("MERCADO_DOCKER_URL", "unix://var/run/docker.sock"),
            auto_remove="success",
            mount_tmp_dir=False,
            # The last line of the container's output (the JSON summary) becomes the XCom.
            do_xcom_push=True,
            xcom_all=False,
        )
    if runner == "local":
        from airflow.providers.standard.operators.bash import BashOperator

        bin_dir = setting("MERCADO_BIN_DIR", os.path.join(os.path.dirname(__file__), "..", "target", "debug"))
        argv = [os.path.join(bin_dir, spec.binary), *command(spec)[1:]]
        return BashOperator(
            task_id=spec.name,
            # BashOperator keeps the last stdout line as the XCom: the task's JSON summary.
            bash_command=shlex.join(argv),
            env={k: v for k, v in environment().items() if v},
            append_env=True,
        )
    raise ValueError(f"MERCADO_RUNNER must be docker or local, not {runner!r}")


with DAG(
    dag_id=DAG_ID,
    description="Mercado: one day from the OLTP stores through the lake into the warehouse",
    schedule="@daily",
    start_date=datetime.fromisoformat(setting("MERCADO_START_DATE", "2025-03-01")),
    catchup=True,
    max_active_runs=int(setting("MERCADO_MAX_ACTIVE_RUNS", "4")),
    user_defined_macros={"run_date": run_date},
    default_args={
        "owner": "data-engineering",
        "retries": int(setting("MERCADO_RETRIES", "2")),
        "retry_delay": timedelta(seconds=int(setting("MERCADO_RETRY_DELAY_SECONDS", "30"))),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    },
    tags=["mercado", "lake", "warehouse"],
    doc_md=__doc__,
) as dag:
    runner = setting("MERCADO_RUNNER", "docker")
    built = {spec.name: make_task(spec, runner) for spec in TASKS}
    for spec in TASKS:
        if spec.upstream:
            built[spec.upstream] >> built[spec.name]
