"""Upkeep of the lake's Iceberg tables (python/mercado_iceberg), daily at 03:00 UTC: expire the
snapshots older than ``keep_days`` (time travel reaches that far back), then delete the files no
kept snapshot refers to and older than ``orphan_hours`` (a younger one may belong to a commit under
way). Both horizons are params of the trigger form; their defaults come from
``MERCADO_ICEBERG_KEEP_DAYS`` (7) and ``MERCADO_ICEBERG_ORPHAN_HOURS`` (24). Compacting a date's
small files is ``scripts/iceberg.sh compact --date D``. Each step prints a JSON summary (XCom).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, UTC

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

ICEBERG_SH = os.environ.get("MERCADO_ICEBERG_SH") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "scripts", "iceberg.sh"))

with DAG(
    dag_id="mercado_iceberg_maintenance",
    description="Expire old Iceberg snapshots and remove the files nothing refers to",
    schedule="0 3 * * *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    params={
        "keep_days": Param(float(os.environ.get("MERCADO_ICEBERG_KEEP_DAYS", "7")), type="number", minimum=0,
                           title="Keep snapshots of the last N days"),
        "orphan_hours": Param(float(os.environ.get("MERCADO_ICEBERG_ORPHAN_HOURS", "24")), type="number", minimum=0,
                              title="Remove unreferenced files older than H hours"),
    },
    default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(minutes=5),
                  "execution_timeout": timedelta(hours=1)},
    tags=["mercado", "lake", "iceberg"],
    doc_md=__doc__,
) as dag:
    expire_snapshots = BashOperator(
        task_id="expire_snapshots",
        bash_command=f"{ICEBERG_SH} expire --older-than-days {{{{ params.keep_days }}}}",
        append_env=True,
    )
    remove_orphans = BashOperator(
        task_id="remove_orphans",
        bash_command=f"{ICEBERG_SH} remove-orphans --older-than-hours {{{{ params.orphan_hours }}}}",
        append_env=True,
    )
    expire_snapshots >> remove_orphans
