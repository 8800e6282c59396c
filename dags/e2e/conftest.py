"""What the end-to-end tests share: the checkout's paths, the task registry's chain, and small
helpers for ports, databases and waits. Imported by the test files (`from conftest import …`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
# scripts/ holds the registry reader and the Airflow REST client the tests drive.
sys.path.insert(0, str(ROOT / "scripts"))

from e2e_support import free_port, iceberg_catalog_url, iceberg_verify, psql, start_api, with_api_token, with_db  # noqa: E402,F401  (re-exported)
from registry import tasks  # noqa: E402

# The task registry, in run order (tasks/registry.toml, read as scripts/registry.py reads it).
CHAIN = [t["name"] for t in tasks()]
# The tasks `mercado-task` runs (the Iceberg commit runs as scripts/iceberg.sh, a local process).
BINARY_CHAIN = [t["name"] for t in tasks() if t.get("program", "mercado-task") == "mercado-task"]


def task_command(name: str, day: str) -> list:
    """The command the DAG runs for a task of the registry, by its program: `mercado-task <task>`
    or `scripts/iceberg.sh <command>` (the Iceberg steps)."""
    program = next(t.get("program", "mercado-task") for t in tasks() if t["name"] == name)
    if program == "iceberg":
        return [ROOT / "scripts" / "iceberg.sh", name.removeprefix("iceberg_"), "--date", day]
    return [BIN / "mercado-task", name, "--date", day]


def wait_until(what, timeout, probe, every=2.0):
    """Polls `probe` until it returns something true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
