"""The run follower's reading of Airflow's answers (scripts/airflow_api.py): which line says why a try
failed, which try of how many it was, and when the next try is due. Driven end to end, against a real
Airflow, by dags/e2e/test_command1.py; these pin the rules on the shapes Airflow 3's REST API returns."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import date  # noqa: E402

from airflow_api import (Airflow, ApiError, RetryPolicy, attempt, error_line, figures, log_text, seconds,  # noqa: E402
                         throughput, ti_key, ti_label)


def entry(event: str, **extra) -> dict:
    return {"timestamp": "2026-12-06T16:47:22Z", "level": "info", "event": event, **extra}


BASH_FAILURE = [
    entry("::group::Pre Execute"),
    entry("Running command: ['/usr/bin/bash', '-c', \"mercado-task load_redshift --date '2025-05-05'\"]"),
    entry("2026-12-06T16:47:22Z  WARN mercado_lake::entry: run not recorded in audit.pipeline_runs"),
    entry("load_redshift failed: PostgreSQL: error connecting to server: Connection refused (os error 111)"),
    entry("Command exited with return code 1"),
    entry("Task failed with exception", level="error", error_detail=[
        {"exc_type": "AirflowException", "exc_value": "Bash command failed. The command returned a non-zero exit "
                                                      "code 1.", "frames": []}]),
    entry("::group::Post Execute"),
]


def test_the_tasks_own_reason_wins():
    assert error_line(BASH_FAILURE, "load_redshift") == (
        "load_redshift failed: PostgreSQL: error connecting to server: Connection refused (os error 111)")


def test_without_the_tasks_reason_the_exception_airflow_logged():
    no_engine = [
        entry("::group::Pre Execute"),
        entry("Task failed with exception", level="error", error_detail=[
            {"exc_type": "AirflowException", "exc_value": "Failed to establish connection to any given Docker hosts.",
             "frames": []}]),
        entry("::endgroup::"),
    ]
    assert error_line(no_engine, "extract") == (
        "AirflowException: Failed to establish connection to any given Docker hosts.")
    # A chain: the cause (listed last) says more than Airflow's re-raise of it.
    chained = [entry("Task failed with exception", error_detail=[
        {"exc_type": "AirflowException", "exc_value": "task failed"},
        {"exc_type": "ConnectionRefusedError", "exc_value": "[Errno 111] Connection refused"}])]
    assert error_line(chained, "extract") == "ConnectionRefusedError: [Errno 111] Connection refused"


def test_an_empty_or_plain_log():
    assert error_line([], "gold") == "(the log is empty)"
    assert error_line(["plain text line", ""], "gold") == "plain text line"
    assert log_text(BASH_FAILURE)[-2].startswith("AirflowException: Bash command failed")


def test_which_try_of_how_many():
    policy = RetryPolicy(retries=2)
    # A fresh run: max_tries = retries.
    assert attempt({"try_number": 1, "max_tries": 2}, policy) == (1, 3)
    assert attempt({"try_number": 3, "max_tries": 2}, policy) == (3, 3)
    # Cleared after one successful try: Airflow sets max_tries = try_number + retries, and counts on.
    assert attempt({"try_number": 2, "max_tries": 3}, policy) == (1, 3)
    assert attempt({"try_number": 4, "max_tries": 3}, policy) == (3, 3)


def test_when_the_next_try_is_due():
    task = {"retries": 2, "retry_delay": {"__type": "TimeDelta", "days": 0, "seconds": 30, "microseconds": 0},
            "retry_exponential_backoff": 2.0, "max_retry_delay": {"days": 0, "seconds": 600, "microseconds": 0}}
    policy = RetryPolicy.from_task(task)
    assert (policy.retries, policy.delay, policy.multiplier, policy.max_delay) == (2, 30.0, 2.0, 600.0)
    # Airflow: min_backoff = ceil(delay * multiplier ** (try - 1)), then up to as much again of jitter.
    assert policy.window(1) == (30, 59)
    assert policy.window(2) == (60, 119)
    assert policy.window(6) == (600, 600), "capped by max_retry_delay"
    # Without backoff (a multiplier of 0 or 1) the delay is exact.
    assert RetryPolicy(1, 3.0, 1.0).window(1) == (3.0, 3.0)
    assert seconds(None) == 0.0 and seconds(12) == 12.0


def test_each_tasks_rows_per_second():
    assert throughput({"rows_in": 200_000, "seconds": 0.8}) == " rows/s=250,000"
    assert throughput({"rows_in": 0, "seconds": 0.8}) == ""
    assert throughput({"seconds": 3.1}) == "", "the Iceberg commit states no rows_in"


def test_a_sharded_tasks_instances_are_told_apart():
    plain = {"task_id": "extract", "map_index": -1}
    shard = {"task_id": "clean", "map_index": 2}
    assert (ti_key(plain), ti_label(plain)) == (("extract", -1), "extract")
    assert (ti_key(shard), ti_label(shard)) == (("clean", 2), "clean[2]")
    assert ti_key({"task_id": "clean"}) == ("clean", -1), "a mapped task not expanded yet"
    # The shard plan's XCom is the list of the shards' settings.
    assert figures([{"MERCADO_SHARD": "0/2"}, {"MERCADO_SHARD": "1/2"}]) == "shards=2"
    assert figures(None) == "" and figures("garbled") == ""
    assert figures({"rows_in": 10, "seconds": 2.0}) == "rows_in=10 seconds=2.0 rows/s=5"


class Recorded(Airflow):
    """The client with Airflow's answers scripted: each request is recorded and answered by `reply`."""

    def __init__(self, reply):
        super().__init__("http://airflow", "admin", "x")
        self.reply, self.calls = reply, []

    def _send(self, method, path, body=None, auth=True):
        self.calls.append((method, path, body))
        return self.reply(method, path, body)


def test_every_task_instance_page_by_page():
    tis = [{"task_id": "clean", "map_index": i} for i in range(130)]

    def reply(method, path, body):
        offset = int(path.split("offset=")[1].split("&")[0])
        return {"task_instances": tis[offset:offset + 100], "total_entries": len(tis)}

    api = Recorded(reply)
    assert api.task_instances("r") == tis
    assert [path.split("?")[1] for _, path, _ in api.calls] == ["limit=100&offset=0", "limit=100&offset=100"]


def test_a_mapped_instances_summary_log_and_try():
    api = Recorded(lambda method, path, body: {"value": '{"task": "clean"}', "content": [], "state": "failed"})
    assert api.summary("r", "clean", map_index=3) == {"task": "clean"}
    api.log_entries("r", "clean", 2, map_index=3)
    api.try_of("r", "clean", 2, map_index=3)
    api.summary("r", "extract")
    paths = [path for _, path, _ in api.calls]
    assert paths == [
        "/api/v2/dags/mercado_daily/dagRuns/r/taskInstances/clean/xcomEntries/return_value?map_index=3",
        "/api/v2/dags/mercado_daily/dagRuns/r/taskInstances/clean/logs/2?full_content=true&map_index=3",
        "/api/v2/dags/mercado_daily/dagRuns/r/taskInstances/clean/3/tries/2",
        "/api/v2/dags/mercado_daily/dagRuns/r/taskInstances/extract/xcomEntries/return_value",
    ]


def day_runs(existing_conf):
    """Airflow's answers when a run of the day exists already, with `existing_conf`."""
    state = {"exists": True}

    def reply(method, path, body):
        if method == "POST" and path.endswith("/dagRuns"):
            if state["exists"]:
                raise ApiError(409, method, path, "exists")
            return {"dag_run_id": body["dag_run_id"]}
        if method == "GET":
            return {"dag_runs": [{"dag_run_id": "backfill__2025-05-07", "conf": existing_conf}]}
        if method == "DELETE":
            state["exists"] = False
        return None

    return reply


def test_a_days_run_again_with_other_shards_is_a_new_run():
    day = date(2025, 5, 7)
    # Without a conf, or the same one: the day's run is cleared and runs again.
    api = Recorded(day_runs({}))
    assert api.run_for_day(day) == "backfill__2025-05-07"
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in api.calls][-1] == ("POST", "clear")
    api = Recorded(day_runs({"shards": 4}))
    assert api.run_for_day(day, conf={"shards": 4}) == "backfill__2025-05-07"
    # Another conf: a run's conf cannot change, so the old run is deleted and a new one triggered.
    api = Recorded(day_runs({}))
    assert api.run_for_day(day, conf={"shards": 4}).startswith("manual__2025-05-07__")
    methods = [m for m, _, _ in api.calls]
    assert methods == ["POST", "GET", "DELETE", "POST"]
    assert api.calls[-1][2]["conf"] == {"shards": 4}
