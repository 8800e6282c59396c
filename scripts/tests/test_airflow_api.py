"""The run follower's reading of Airflow's answers (scripts/airflow_api.py): which line says why a try
failed, which try of how many it was, and when the next try is due. Driven end to end, against a real
Airflow, by dags/e2e/test_command1.py; these pin the rules on the shapes Airflow 3's REST API returns."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_api import RetryPolicy, attempt, error_line, log_text, seconds, throughput  # noqa: E402


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
