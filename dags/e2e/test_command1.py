"""Command 1 itself (`scripts/run.sh`), as a user runs it, for one day, on each runner.

1. A task that fails on purpose (the warehouse's port is closed, so `load_redshift` cannot connect),
   retries once allowed, local runner: the follower prints the failed try with the task's own error
   line and when the next try is due, then the task's final failure; command 1 exits non-zero with
   the end of the task's log, seconds after the last try (within the retry budget), never waiting
   silently.
2. `MERCADO_RUNNER=docker` with the project's Docker engine stopped beforehand and the tasks image
   absent: command 1 starts the engine, builds the image, restarts the running Airflow (its runner
   changed), and the day's run succeeds with every registry task (each sharded one's instance per
   shard) a DockerOperator container whose JSON summary came back as XCom; the warehouse holds the generator's orders for the day; command 1
   read the Iceberg tables back by pyiceberg and DuckDB and found every gold table equal to the
   warehouse; no process's arguments held a database password meanwhile.
3. The same with the image removed (the engine running): it is built again and the run succeeds.
4. The S3 emulator frozen (SIGSTOP) and the day's run started again through Airflow's REST API:
   `extract` fails within its AWS timeouts (flags from the environment, 3 s an attempt, 2 attempts,
   8 s an operation), Airflow marks it up for retry; after SIGCONT, Airflow's own retry finishes the
   run, and the warehouse is what the uninterrupted run left, row for row (the time to fail goes to
   .local/timeout-tests.json).

Own databases, DynamoDB table, bucket, image tag, AIRFLOW_HOME, ports and run folder, so it runs
beside anything else; the wall time of command 1 per runner goes to .local/command1-timings.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import pytest

from conftest import (DAG_TASK_IDS, ROOT, expected_instances, free_port, iceberg_catalog_url, instances, psql,
                      with_db)

DAY = "2025-05-05"
TIMINGS = ROOT / ".local" / "command1-timings.json"
DOCKER_SOCK = ROOT / ".local" / "docker" / "docker.sock"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": f"unix://{DOCKER_SOCK}"}
    return subprocess.run(["docker", *args], env=env, check=check, capture_output=True, text=True, timeout=120)


@contextmanager
def arguments_watched(secrets: list[str]):
    """Samples every process's arguments (what `ps` shows anyone on the machine) while the block
    runs; yields the list of command lines that held any of `secrets`."""
    seen: list[str] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if any(secret in text for secret in secrets):
                    seen.append(text[:300])
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join(timeout=5)


def login_passwords() -> list[str]:
    """The passwords scripts/services.sh generated for the local cluster's logins."""
    found = [path.read_text().strip() for path in (ROOT / ".local" / "secrets" / "pg").iterdir()]
    assert len(found) >= 7, found
    return found


def table_owners(url: str, schemas: str) -> set[str]:
    return set(psql(url, f"SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname IN ({schemas})").split())


def run_sh(env: dict, *args: str, timeout: float = 600) -> tuple[int, str, float]:
    """scripts/run.sh with `env`; its exit code, stdout + stderr, and wall time."""
    started = time.monotonic()
    out = subprocess.run([ROOT / "scripts" / "run.sh", *args], env=env, capture_output=True, text=True,
                         timeout=timeout)
    return out.returncode, out.stdout + out.stderr, time.monotonic() - started


@pytest.fixture(scope="module")
def stack():
    name = f"c1_{int(time.time())}_{os.getpid()}"
    admin = os.environ["DATABASE_URL"]
    home = Path(tempfile.mkdtemp(prefix="mercado-airflow-"))
    run_dir = Path(tempfile.mkdtemp(prefix="mercado-run-"))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=with_db(admin, name),
        WAREHOUSE_URL=with_db(admin, f"{name}_wh"),
        AIRFLOW_DATABASE_URL=with_db(admin, f"{name}_af"),
        AIRFLOW_HOME=str(home),
        AIRFLOW_PORT=str(free_port()),
        MERCADO_DDB_TABLE=name,
        MERCADO_LAKE_BUCKET=name.replace("_", "-"),
        ICEBERG_CATALOG_URL=iceberg_catalog_url(f"{name}_ice"),
        MERCADO_TASKS_IMAGE=f"mercado-tasks:{name.replace('_', '-')}",
        MERCADO_ICEBERG_IMAGE=f"mercado-iceberg:{name.replace('_', '-')}",
        MERCADO_API_BIND=f"127.0.0.1:{free_port()}",
        MERCADO_RUN_DIR=str(run_dir),
        MERCADO_DAYS="1",
        MERCADO_RETRIES="1",
        MERCADO_RETRY_DELAY_SECONDS="3",
        MERCADO_RUN_TIMEOUT="420",
        MERCADO_FOLLOW_HEARTBEAT="10",
        # The tasks' S3/DynamoDB bounds (the frozen-emulator step): short, so a frozen lake fails fast.
        MERCADO_AWS_ATTEMPT_TIMEOUT_SECONDS="3",
        MERCADO_AWS_MAX_ATTEMPTS="2",
        MERCADO_AWS_OPERATION_TIMEOUT_SECONDS="8",
        RUST_LOG="warn",
    )
    for db in (name, f"{name}_wh", f"{name}_af"):
        psql(with_db(admin, "postgres"), f'CREATE DATABASE "{db}"')
    try:
        yield env, run_dir
    finally:
        subprocess.run([ROOT / "scripts" / "airflow.sh", "stop"], env=env, capture_output=True, timeout=60)
        stop_api(run_dir)
        docker("image", "rm", "-f", env["MERCADO_TASKS_IMAGE"], env["MERCADO_ICEBERG_IMAGE"], check=False)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def stop_api(run_dir: Path) -> None:
    pid_file = run_dir / "api.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        time.sleep(0.5)


def record_timing(runner: str, seconds: float) -> None:
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[runner] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(timings))


def airflow_client(env: dict):
    from airflow_api import Airflow

    passwords = json.loads((Path(env["AIRFLOW_HOME"]) / "passwords.json").read_text())
    return Airflow(f"http://127.0.0.1:{env['AIRFLOW_PORT']}", "admin", passwords["admin"])


def assert_day_ran_in_containers(env: dict, run_dir: Path, output: str) -> None:
    """Every task succeeded (a sharded one once per shard: one here, the day being small) as a
    DockerOperator container, its summary in XCom, and the warehouse has the generator's orders for
    the day."""
    for task in DAG_TASK_IDS:
        # The follower prints a sharded task's instances as clean[0], clean[1]…
        assert re.search(rf"\b{task}(\[\d+\])?\s+success\b", output), f"{task} did not succeed:\n{output[-4000:]}"
    client = airflow_client(env)
    run_id = f"manual__{DAY}"
    tis = instances(client.task_instances(run_id))
    assert sorted(tis) == sorted(expected_instances(1))
    for (task, map_index), ti in tis.items():
        assert ti["state"] == "success", ti
        summary = client.summary(run_id, task, map_index=map_index)
        if task == "shards":
            # The shard plan (a Python task in Airflow's worker): the shards' settings, one shard.
            assert [s["MERCADO_SHARD"] for s in summary] == ["0/1"], summary
            assert {s["MERCADO_STAGE_ID"] for s in summary} == {run_id}, summary
            continue
        # The Iceberg commit too, in its own image (docker/iceberg-local.Dockerfile).
        assert ti["operator"] == "MercadoDockerOperator", ti
        assert summary and summary["task"] == task and summary["date"] == DAY and summary["status"] == "ok", summary
    labels = [json.loads(line) for line in (run_dir / "traffic" / "labels.jsonl").read_text().splitlines() if line]
    orders = [entry["orders"] for entry in labels if entry["date"] == DAY]
    assert orders, labels
    in_warehouse = psql(env["WAREHOUSE_URL"], "SELECT COUNT(DISTINCT transaction_id) FROM core.fact_sales "
                                              f"WHERE date_id = {DAY.replace('-', '')}")
    assert int(in_warehouse) == orders[0]
    assert (run_dir / "reports" / f"mercado-report-{DAY}.html").stat().st_size > 1000
    # Each day's wall time, as the README's busy-day table reports it.
    timed = re.search(rf"{DAY}\s+(\d+) orders  traffic\s+(\d+) s  pipeline\s+(\d+) s", output)
    assert timed and int(timed.group(3)) > 0, output[-4000:]
    # Command 1 read the lake's Iceberg tables back by engines that are not ours (scripts/iceberg.sh
    # verify: pyiceberg and DuckDB, every gold table against the warehouse, row for row).
    assert re.search(r"the Iceberg tables, read by pyiceberg and DuckDB, equal the warehouse row for row: "
                     r"7 gold tables, [1-9]\d* rows, each date one commit", output), output[-4000:]


def test_a_failing_task_is_reported_and_ends_command_1(stack):
    env, run_dir = stack
    closed = free_port()
    failing = {**env, "MERCADO_RUNNER": "local",
               "WAREHOUSE_URL": f"postgres://mercado@127.0.0.1:{closed}/nowhere"}
    code, output, seconds = run_sh(failing, DAY)
    record_timing("local_failing", seconds)
    assert code != 0, output[-4000:]
    retry = re.search(r"\[\s*([\d.]+) s\] \d+/\d+\s+load_redshift\s+up_for_retry: try 1 of 2 failed: "
                      r"load_redshift failed: PostgreSQL: error connecting to server: [^\n]*refused[^\n]*; "
                      r"try 2 due (at|between) \d\d:\d\d:\d\d", output)
    assert retry, output[-5000:]
    final = re.search(r"\[\s*([\d.]+) s\] \d+/\d+\s+load_redshift\s+failed for good \(try 2 of 2\): "
                      r"load_redshift failed: ", output)
    assert final, output[-5000:]
    assert "load_redshift failed; the end of its log:" in output
    assert "mercado_daily failed for " + DAY in output
    # The follower's clock: the final failure came a few seconds after the first (3 s delay), and
    # the run ended right after it; nothing downstream ran.
    assert float(final.group(1)) - float(retry.group(1)) < 60
    for task in ("reconcile", "marts", "report"):
        assert not re.search(rf"\b{task}\s+success\b", output)
    # The failure notifier (the DAG's on_failure_callback) named the task, the day, the try and
    # the log's address.
    notices_file = Path(env["AIRFLOW_HOME"]) / "mercado-failures.jsonl"
    deadline = time.monotonic() + 30
    while not notices_file.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    # (The scheduler's own run of the latest interval, created when the DAG was unpaused, fails
    # with the same broken warehouse and is announced too: only this day's notices count here.)
    notices = [json.loads(line) for line in notices_file.read_text().splitlines() if line]
    notices = [n for n in notices if n["date"] == DAY]
    assert [(n["task_id"], n["try"]) for n in notices] == [("load_redshift", 2)], notices
    assert notices[0]["log_url"].startswith("http://127.0.0.1:") and notices[0]["error"], notices
    # The API keeps the broken warehouse address it started with: the next step starts a new one.
    stop_api(run_dir)


def test_docker_runner_starts_the_engine_and_builds_the_image(stack):
    env, run_dir = stack
    docker_env = {**env, "MERCADO_RUNNER": "docker"}
    subprocess.run([ROOT / "scripts" / "docker.sh", "stop"], env=env, check=True, capture_output=True, timeout=60)
    assert subprocess.run(["docker", "version"], env={**os.environ, "DOCKER_HOST": f"unix://{DOCKER_SOCK}"},
                          capture_output=True, timeout=30).returncode != 0, "the engine should be stopped"
    # While command 1 runs, no process argument holds a database password (any login's).
    with arguments_watched(login_passwords()) as exposed:
        code, output, seconds = run_sh(docker_env, DAY)
    assert code == 0, output[-6000:]
    assert not exposed, f"a password in process arguments: {exposed[:3]}"
    # Each component made its tables as its own login: the migrator the OLTP schema, the loader the
    # warehouse, Airflow its metadata (scripts/services.sh; api/tests/roles.rs tests their rights).
    assert table_owners(env["DATABASE_URL"], "'public'") == {"mercado_migrator"}
    assert table_owners(env["WAREHOUSE_URL"], "'staging', 'core', 'audit'") == {"mercado_loader"}
    assert table_owners(env["AIRFLOW_DATABASE_URL"], "'public'") == {"mercado_airflow"}
    record_timing("docker", seconds)
    assert "starting dockerd" in output
    assert f"building {env['MERCADO_TASKS_IMAGE']}" in output
    assert f"building {env['MERCADO_ICEBERG_IMAGE']}" in output
    # Airflow ran with the local runner in the step before: it was restarted for this one.
    assert re.search(r"run with other settings than these \([^)]*MERCADO_RUNNER=docker[^)]*\): restarting them",
                     output), output[-4000:]
    assert_day_ran_in_containers(env, run_dir, output)


def test_docker_runner_rebuilds_a_removed_image(stack):
    env, run_dir = stack
    docker_env = {**env, "MERCADO_RUNNER": "docker"}
    docker("image", "rm", "-f", env["MERCADO_TASKS_IMAGE"])
    code, output, _ = run_sh(docker_env, DAY)
    assert code == 0, output[-6000:]
    assert "Docker engine already running" in output
    assert f"building {env['MERCADO_TASKS_IMAGE']}" in output
    assert "restarting them" not in output, "nothing changed since the last step"
    assert_day_ran_in_containers(env, run_dir, output)
    # And once built, a run with the same binary keeps the image as it is.
    quick = subprocess.run([ROOT / "scripts" / "docker.sh", "image"], env=docker_env, capture_output=True, text=True,
                           timeout=120)
    assert quick.returncode == 0 and "is up to date" in quick.stderr, quick.stderr


def warehouse_digest(url: str) -> dict[str, str]:
    """Every core table and mart: its rows, in a total order, hashed."""
    tables = psql(url, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                       "WHERE table_schema IN ('core', 'marts') ORDER BY 1").split()
    return {t: psql(url, f"SELECT md5(COALESCE(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM {t} r")
            for t in tables}


def test_a_frozen_lake_fails_in_time_and_airflows_retry_finishes(stack):
    env, _ = stack
    client = airflow_client(env)
    before = warehouse_digest(env["WAREHOUSE_URL"])
    assert len(before) >= 13
    moto = int((ROOT / ".local" / "moto.pid").read_text())
    run_id = f"manual__{DAY}"
    client.set_paused(False)
    os.kill(moto, signal.SIGSTOP)
    try:
        assert client.run_for_day(date.fromisoformat(DAY)) == run_id

        def extract_state():
            ti = client.get(f"/api/v2/dags/mercado_daily/dagRuns/{run_id}/taskInstances/extract")
            return ti if ti["state"] in ("up_for_retry", "failed", "success") else None

        deadline = time.monotonic() + 180
        ti = None
        while ti is None and time.monotonic() < deadline:
            ti = extract_state()
            time.sleep(0.5)
        assert ti and ti["state"] == "up_for_retry", ti
    finally:
        os.kill(moto, signal.SIGCONT)
    tries = client.get(f"/api/v2/dags/mercado_daily/dagRuns/{run_id}/taskInstances/extract/tries")["task_instances"]
    # The run ran before (steps 1 to 3): its tries count on from there.
    failed_try = ti["try_number"]
    first = next(t for t in tries if t["try_number"] == failed_try)
    failed_in = (datetime.fromisoformat(first["end_date"]) - datetime.fromisoformat(first["start_date"])).total_seconds()
    # One S3 call's budget (8 s) plus the task's start; never the minutes of an unbounded wait.
    assert failed_in < 60, first

    deadline = time.monotonic() + 300
    while True:
        run = client.get(f"/api/v2/dags/mercado_daily/dagRuns/{run_id}")
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    client.set_paused(True)
    assert run["state"] == "success", run
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in client.task_instances(run_id)}
    assert states["extract"] == ("success", failed_try + 1), states
    assert client.summary(run_id, "extract")["figures"]["snapshot"] == "kept"
    assert warehouse_digest(env["WAREHOUSE_URL"]) == before
    out = ROOT / ".local" / "timeout-tests.json"
    timings = json.loads(out.read_text()) if out.exists() else {}
    timings["frozen_s3_extract_failed_in_s"] = round(failed_in, 1)
    out.write_text(json.dumps(timings))
