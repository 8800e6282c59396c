"""End to end with both runners: real services, real API, real Airflow (`airflow dags test`), and for
the docker runner a real Docker engine running the tasks image (scripts/docker.sh).

`airflow dags test` is the quick in-process path; the scheduler, backfill and UI are proved in
test_backfill.py. Traffic for two past dates (with one bad record per kind) goes through the API and its stores; the
DAG runs for each date, the first in one shard (the automatic choice for a small day), the second
split into two (the trigger form's `shards`: clean, enrich and gold each run twice, as processes or
containers, and commit publishes both shards); the warehouse must hold exactly the traffic's orders
and GMV, reconcile must pass, quarantine must hold the bad records (the shards' counts add up), each
task instance's JSON summary must be in XCom. Then a date is run again and a single task re-run:
the warehouse totals do not move.

Own database, warehouse, DynamoDB table and bucket, so it runs beside anything else.
"""

import json
import os
import subprocess
import tempfile
import time

from pathlib import Path

import pytest

from conftest import (BIN, BINARY_CHAIN, ROOT, expected_instances, free_port, iceberg_catalog_url, psql, start_api,
                      with_api_token, with_db)

DATES = ["2025-03-17", "2025-03-18"]
# Each date's shards: the first left to the automatic choice (one, for a small day), the second
# chosen in the trigger form.
SHARDS = {DATES[0]: None, DATES[1]: 2}


TIMINGS = ROOT / ".local" / "e2e-timings.json"


@pytest.fixture(scope="module", params=["local", "docker"])
def stack(request):
    runner = request.param
    name = f"e2e_{runner}_{int(time.time())}_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    for db in (name, f"{name}_wh"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    env = dict(os.environ)
    env.update(
        DATABASE_URL=with_db(admin, name),
        WAREHOUSE_URL=with_db(admin, f"{name}_wh"),
        MERCADO_DDB_TABLE=name,
        MERCADO_LAKE_BUCKET=name.replace("_", "-"),
        ICEBERG_CATALOG_URL=iceberg_catalog_url(f"{name}_ice"),
        MERCADO_RUNNER=runner,
        MERCADO_DOCKER_URL="unix://" + str(ROOT / ".local" / "docker" / "docker.sock"),
        MERCADO_DOCKER_NETWORK="host",
        MERCADO_TASKS_IMAGE="mercado-tasks:0.1.0",
        MERCADO_RETRIES="0",
        MERCADO_BIN_DIR=str(BIN),
        MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
        # The traffic generator sends from 127.0.0.1 as fast as the API answers: no rate limit.
        MERCADO_RATE_LIMIT_PER_SECOND="0",
        RUST_LOG="warn",
    )
    with_api_token(env, Path(tempfile.mkdtemp(prefix="mercado-e2e-")))
    api, base = start_api(env)
    traffic = {}
    for day in DATES:
        out = subprocess.run(
            [BIN / "mercado-traffic", "--date", day, "--api-url", base, "--orders", "40", "--bad-records"],
            env=env, check=True, capture_output=True, text=True,
        )
        traffic[day] = json.loads(out.stdout.strip().splitlines()[-1])
    yield env, traffic
    api.terminate()
    api.wait(timeout=10)


def dags_test(env, day, shards=None):
    # The trigger form's date: a manual run's logical date alone would mean "the day before".
    conf = {"date": day} if shards is None else {"date": day, "shards": shards}
    out = subprocess.run(
        [ROOT / "scripts" / "airflow.sh", "dags", "test", "mercado_daily", day, "-c", json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "state=success" in out.stdout + out.stderr


def totals(env, day):
    date_id = day.replace("-", "")
    row = psql(env["WAREHOUSE_URL"], f"SELECT COUNT(DISTINCT transaction_id), SUM(total_price) FROM core.fact_sales WHERE date_id = {date_id}")
    count, gmv = row.split("|")
    return int(count), gmv


def xcom_summaries(day):
    """The JSON summaries the task instances of the latest run of `day` left in XCom, by (task id,
    map index); the shard plan's is the list of the shards' settings."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = [r for r in session.query(DagRun).filter(DagRun.dag_id == "mercado_daily").all()
                if r.logical_date and r.logical_date.strftime("%Y-%m-%d") == day and r.state == "success"]
        run = max(runs, key=lambda r: r.start_date)
        rows = session.query(XComModel).filter(XComModel.dag_id == "mercado_daily", XComModel.run_id == run.run_id,
                                               XComModel.key == "return_value").all()
        out = {}
        for r in rows:
            value = r.value
            while isinstance(value, str):
                value = json.loads(value)
            out[(r.task_id, r.map_index)] = value
        return out


def test_two_days_rerun_and_single_task(stack):
    env, traffic = stack
    started = time.monotonic()
    for day in DATES:
        dags_test(env, day, SHARDS[day])
        orders, gmv = totals(env, day)
        assert orders == traffic[day]["orders"]
        assert gmv == traffic[day]["gmv"]
        summaries = xcom_summaries(day)
        shards = SHARDS[day] or 1
        assert sorted(summaries) == sorted(expected_instances(shards))
        plan = summaries.pop(("shards", -1))
        assert [s["MERCADO_SHARD"] for s in plan] == [f"{i}/{shards}" for i in range(shards)], plan
        assert len({s["MERCADO_STAGE_ID"] for s in plan}) == 1, plan
        for (task, _), summary in summaries.items():
            assert summary["task"] == task and summary["date"] == day and summary["status"] == "ok"
        # clean's counts of the day's transactions, over its shards (a duplicate meets its original
        # in one shard: copies share their id).
        cleaned = [summaries[("clean", i)]["datasets"]["raw/dynamodb/transactions"] for i in range(shards)]
        clean = {k: sum(c[k] for c in cleaned) for k in ("rows_in", "rows_out", "quarantined", "duplicates")}
        # One bad record per kind: four quarantined, one duplicate; nothing lost.
        assert (clean["quarantined"], clean["duplicates"]) == (4, 1)
        assert clean["rows_in"] == clean["rows_out"] + clean["quarantined"] + clean["duplicates"]
        assert summaries[("reconcile", -1)]["rows_in"] == traffic[day]["orders"] + 5
        assert summaries[("marts", -1)]["figures"]["gmv"] == traffic[day]["gmv"]
    # Every task of the binary recorded its run on the second date (on the first date the audit
    # tables only appear with its first load); the Iceberg commit's record is the catalog's.
    assert psql(env["WAREHOUSE_URL"], f"SELECT COUNT(DISTINCT task) FROM audit.pipeline_runs WHERE date = '{DATES[1]}' AND status = 'ok'") == str(len(BINARY_CHAIN))

    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[env["MERCADO_RUNNER"]] = round(time.monotonic() - started, 1)
    TIMINGS.write_text(json.dumps(timings))

    # The same date again, then one task cleared and re-run: the warehouse does not move.
    before = [totals(env, d) for d in DATES]
    dags_test(env, DATES[0])
    out = subprocess.run([ROOT / "scripts" / "airflow.sh", "tasks", "test", "mercado_daily", "load_redshift", DATES[1],
                          "-t", json.dumps({"date": DATES[1]})],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert [totals(env, d) for d in DATES] == before
    assert psql(env["WAREHOUSE_URL"], "SELECT COUNT(*) FROM audit.dq_failures") == "0"
