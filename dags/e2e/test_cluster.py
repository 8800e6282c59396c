"""mercado_daily past one machine: Airflow's CeleryExecutor with its workers on two nodes that share
nothing but the lake, the stores and Airflow's API (scripts/cluster.sh: each node a network
namespace with its own loopback, host name, temporary directory, CPU and memory cap), driven as a
data engineer drives it: `scripts/airflow.sh` with MERCADO_EXECUTOR=celery, a backfill created by
Airflow's CLI, runs followed over the REST API.

1. A backfill of three dates (and the scheduled run that unpausing creates): every task succeeds on
   its first try, tasks ran on both nodes (each try's hostname is its node's), and every `core`
   table, mart and gold manifest equals the same dates run one by one by the binaries.
2. A node lost mid-shard: the last date is run again, split into 4 shards (the trigger form's
   `shards`: clean, enrich and gold each run as 4 mapped task instances, side by side on both
   nodes); once one shard's instance runs on a node, every process of that node is SIGKILLed and
   its namespace deleted. The scheduler finds the shard without heartbeat, Airflow retries it on the
   other node and the date finishes with every instance of the 4 shards succeeded; a reader polling
   the date's manifests throughout never sees one that lists a missing or different object, nor a
   date partly published (each manifest's row count the same whenever it is read: the shards are
   published together by `commit`); the warehouse equals the uninterrupted result and every table and
   gold manifest still equals the dates run one by one, unsharded.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta, UTC, date
from pathlib import Path

import pytest

from conftest import (ROOT, SHARDED, airflow_sh, airflow_stack, cluster_sh, assert_same_warehouse_and_gold, dump,
                      expected_instances, free_port, instances, one_by_one, ti_key, ti_label, wait_until,
                      warehouse_tables)

DATES = ["2025-05-05", "2025-05-06", "2025-05-07"]
# The re-run of the last date is split into this many shards.
SHARDS = 4
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
TIMINGS = ROOT / ".local" / "cluster-timings.json"

# Reads every manifest of one date over and over, checking each file it lists is in the bucket with
# the manifest's size, and noting each manifest's row count (a date re-run with the same data: any
# second count is a partly published date), until the stop file appears; prints what it saw as one
# JSON line.
POLLER = """
import json, os, sys, time, boto3
bucket, day, stop = sys.argv[1:4]
s3 = boto3.client("s3")
polls, seen, bad, rows = 0, set(), [], {}
while not os.path.exists(stop):
    polls += 1
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(f"/dt={day}/_manifest.json"):
                continue
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            manifest = json.loads(body)
            seen.add((key, manifest["run_id"]))
            rows.setdefault(key, set()).add(manifest["rows"])
            for f in manifest["files"]:
                try:
                    size = s3.head_object(Bucket=bucket, Key=f["key"])["ContentLength"]
                except Exception as e:  # a listed object that is not there
                    bad.append([key, f["key"], str(e)[:80]])
                    continue
                if size != f["bytes"]:
                    bad.append([key, f["key"], f"{size} bytes, manifest says {f['bytes']}"])
    time.sleep(0.3)
partly = {key: sorted(counts) for key, counts in rows.items() if len(counts) > 1}
print(json.dumps({"polls": polls, "manifests_seen": len(seen), "bad": bad[:20], "row_counts_changed": partly}))
"""


@pytest.fixture(scope="module")
def stack():
    cluster = f"t{os.getpid() % 100000}{int(time.time()) % 1000}"
    name = f"cl_{int(time.time())}_{os.getpid()}"
    settings = dict(
        MERCADO_EXECUTOR="celery",
        MERCADO_CLUSTER_NAME=cluster,
        MERCADO_REDIS_PORT=str(free_port()),
        MERCADO_MAX_ACTIVE_RUNS="4",
        # Retries on: the lost node's task is retried (soon: 2 s, then 4 s).
        MERCADO_RETRIES="2",
        MERCADO_RETRY_DELAY_SECONDS="2",
        # A task whose worker stopped heart-beating is failed after 20 s (Airflow's default is 300).
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
        # A task the lost node's worker had taken from the broker but not started stays unacknowledged
        # in Redis (Celery acknowledges late) until the broker's visibility timeout (hours); Airflow
        # requeues a task queued longer than this (its default is 600 s, checked every 120 s).
        AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="45",
        AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL="5",
        MERCADO_NODE_CPU="0.6",
        MERCADO_NODE_CONCURRENCY="2",
    )
    with airflow_stack(name, [*DATES, YESTERDAY], **settings) as (env, client):
        try:
            cluster_sh(env, "up", "2")
            yield env, client
        finally:
            subprocess.run([ROOT / "scripts" / "cluster.sh", "down"], env=env, capture_output=True, timeout=120)


def node_of(hostname: str | None) -> int | None:
    """The node number of a task try's hostname (`<cluster>-node<K>`)."""
    if not hostname or "-node" not in hostname:
        return None
    return int(hostname.rsplit("-node", 1)[1])


@pytest.fixture(scope="module")
def backfill(stack):
    env, client = stack
    started = time.monotonic()
    airflow_sh(env, "backfill", "create", "--dag-id", "mercado_daily", "--from-date", DATES[0], "--to-date", DATES[-1],
               "--max-active-runs", "4", "--reprocess-behavior", "failed")
    client.set_paused(False)

    def finished():
        runs = client.get("/api/v2/dags/mercado_daily/dagRuns", limit=50)["dag_runs"]
        if len(runs) == len(DATES) + 1 and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        return None

    runs = wait_until("the backfill's and the scheduled run to finish on the cluster", 900, finished)
    seconds = round(time.monotonic() - started, 1)
    TIMINGS.write_text(json.dumps({"celery_2_nodes_backfill_3_dates_and_scheduled_run_s": seconds}))
    return runs


@pytest.fixture(scope="module")
def reference(stack, backfill):
    """The same dates run one by one by the binaries, unsharded, into a lake and warehouse of their own."""
    env, _ = stack
    return one_by_one(env, [*DATES, YESTERDAY])


def test_a_backfill_on_two_nodes_equals_the_dates_one_by_one(stack, backfill, reference):
    env, client = stack
    nodes = set()
    for run in backfill:
        tis = client.task_instances(run["dag_run_id"])
        # Every task once, each sharded one once per shard (a small day: one shard).
        states = {key: (t["state"], t["try_number"]) for key, t in instances(tis).items()}
        assert states == {key: ("success", 1) for key in expected_instances(1)}, run
        for ti in tis:
            node = node_of(ti.get("hostname"))
            assert node in (1, 2), f"{ti_label(ti)} ran on {ti.get('hostname')!r}, not on a node"
            nodes.add(node)
            # The chains across dates came through their own queue, which the nodes' workers consume.
            queue = "chain" if ti["task_id"] in ("gold_dimensions", "load_redshift") else "default"
            assert ti.get("queue") == queue, f"{ti_label(ti)} was queued on {ti.get('queue')!r}"
    assert nodes == {1, 2}, "both nodes ran tasks"
    assert_same_warehouse_and_gold(env, reference, len(DATES) + 1)


def test_a_node_lost_mid_shard_the_other_finishes_the_date(stack, backfill, reference):
    env, client = stack
    url = env["WAREHOUSE_URL"]
    before = {t: dump(url, t) for t in warehouse_tables(url)}
    day = DATES[-1]
    stop = Path(env["AIRFLOW_HOME"]) / "poller.stop"
    poller = subprocess.Popen([ROOT / ".local" / "venv" / "bin" / "python", "-c", POLLER, env["MERCADO_LAKE_BUCKET"], day,
                               str(stop)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The backfill's run of the day had the automatic choice (one shard): a run's conf cannot
        # change, so run_for_day replaces it with a run of the day split into SHARDS.
        run_id = client.run_for_day(date.fromisoformat(day), conf={"shards": SHARDS})

        def shard_running_on_a_node():
            for ti in client.task_instances(run_id):
                # One shard's instance of a sharded task (clean, enrich or gold), on a node.
                if (ti["state"] == "running" and ti["task_id"] in SHARDED and ti_key(ti)[1] >= 0
                        and node_of(ti.get("hostname"))):
                    return ti
            return None

        victim = wait_until("a shard of the re-run running on a node", 300, shard_running_on_a_node, every=0.3)
        lost = node_of(victim["hostname"])
        cluster_sh(env, "kill", str(lost))
        killed_at = time.monotonic()

        def finished():
            run = client.get(f"/api/v2/dags/mercado_daily/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = wait_until("the re-run to finish on the remaining node", 600, finished)
        recovered_s = round(time.monotonic() - killed_at, 1)
    finally:
        stop.touch()
        out, err = poller.communicate(timeout=120)
    assert run["state"] == "success", run
    assert run["conf"] == {"shards": SHARDS}, run
    # Every task once, each of clean, enrich and gold once per shard: SHARDS map indexes each.
    tis = instances(client.task_instances(run_id))
    assert sorted(tis) == sorted(expected_instances(SHARDS)), sorted(tis)
    for task_id in SHARDED:
        assert sorted(i for t, i in tis if t == task_id) == list(range(SHARDS)), task_id
    task = tis[ti_key(victim)]
    lost_try = client.try_of(run_id, task["task_id"], victim["try_number"], map_index=ti_key(victim)[1])
    assert node_of(lost_try.get("hostname")) == lost and lost_try["state"] == "failed", lost_try
    assert task["try_number"] > victim["try_number"] and node_of(task["hostname"]) == 3 - lost, task
    for ti in tis.values():
        assert ti["state"] == "success" and node_of(ti["hostname"]) in (1, 2), ti
    seen = json.loads(out.strip().splitlines()[-1]) if out.strip() else pytest.fail(f"the poller printed nothing: {err[-2000:]}")
    assert seen["polls"] >= 5 and seen["manifests_seen"] >= 10 and seen["bad"] == [], seen
    assert seen["row_counts_changed"] == {}, seen
    after = {t: dump(url, t) for t in warehouse_tables(url)}
    assert after == before, [t for t in before if before[t] != after.get(t)]
    # The sharded date still equals the dates run one by one, unsharded: tables and gold manifests.
    assert_same_warehouse_and_gold(env, reference, len(DATES) + 1)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings["node_lost_to_date_finished_s"] = recovered_s
    timings["lost"] = (f"node {lost} during {ti_label(victim)} (of {SHARDS} shards) try {victim['try_number']}; "
                       f"try {task['try_number']} on node {3 - lost}")
    TIMINGS.write_text(json.dumps(timings))
