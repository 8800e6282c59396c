#!/usr/bin/env python3
"""A small client of Airflow's REST API (v2), as the main command and the tests use it.

    airflow_api.py run --date YYYY-MM-DD [--timeout S]   trigger mercado_daily for that day (or clear
                                                          and re-run the day's run), unpause the DAG,
                                                          follow the run task by task, print each
                                                          task's summary; exit 0 when it succeeded
    airflow_api.py follow RUN_ID                          follow an existing run

Reads AIRFLOW_URL (http://127.0.0.1:8080), AIRFLOW_USER (admin) and AIRFLOW_PASSWORD or the
passwords file scripts/airflow.sh made (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta, timezone

DAG_ID = "mercado_daily"
FINISHED = {"success", "failed"}


class ApiError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, body: str):
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status


class Airflow:
    def __init__(self, url: str, user: str, password: str):
        self.url = url.rstrip("/")
        self.user, self.password = user, password
        self.token: str | None = None

    @classmethod
    def from_env(cls) -> "Airflow":
        password = os.environ.get("AIRFLOW_PASSWORD")
        user = os.environ.get("AIRFLOW_USER", "admin")
        if not password:
            path = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
            if not path or not os.path.exists(path):
                raise SystemExit("set AIRFLOW_PASSWORD, or start Airflow with scripts/airflow.sh start first")
            with open(path) as f:
                password = json.load(f)[user]
        return cls(os.environ.get("AIRFLOW_URL", "http://127.0.0.1:8080"), user, password)

    def _send(self, method: str, path: str, body=None, auth=True):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self._token()}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, method, path, e.read().decode(errors="replace")) from None
        return json.loads(raw) if raw else None

    def _token(self) -> str:
        if self.token is None:
            reply = self._send("POST", "/auth/token", {"username": self.user, "password": self.password}, auth=False)
            self.token = reply["access_token"]
        return self.token

    def get(self, path: str, **query):
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        return self._send("GET", path + (f"?{q}" if q else ""))

    def post(self, path: str, body):
        return self._send("POST", path, body)

    def patch(self, path: str, body):
        return self._send("PATCH", path, body)

    # --- the calls the main command and the tests make ---------------------------------------
    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get(f"/api/v2/dags/{dag_id}")
            except (ApiError, OSError) as e:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{dag_id} was not parsed within {timeout:.0f} s: {e}")
                time.sleep(1)

    def set_paused(self, paused: bool, dag_id: str = DAG_ID) -> None:
        self.patch(f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": paused})

    def run_for_day(self, day: date, dag_id: str = DAG_ID) -> str:
        """Starts the run that processes `day`, like the scheduled run after it closed (data
        interval [day, day+1)); if one exists already, clears it so it runs again. Its run id."""
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        body = {
            "dag_run_id": f"manual__{day.isoformat()}",
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": (start + timedelta(days=1)).isoformat(),
            "conf": {},
            "note": "triggered by scripts/run.sh",
        }
        try:
            return self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]
        except ApiError as e:
            if e.status != 409:
                raise
        existing = self.get(f"/api/v2/dags/{dag_id}/dagRuns", logical_date_gte=start.isoformat(),
                            logical_date_lte=start.isoformat())["dag_runs"]
        if not existing:
            raise SystemExit(f"a run for {day} exists but could not be found")
        run_id = existing[0]["dag_run_id"]
        self.post(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False})
        return run_id

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def summary(self, run_id: str, task_id: str, dag_id: str = DAG_ID) -> dict | None:
        """The task's JSON summary line, kept by Airflow as its XCom."""
        try:
            entry = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
        except ApiError:
            return None
        value = entry.get("value")
        while isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return value

    def log_tail(self, run_id: str, task_id: str, try_number: int, lines: int = 25, dag_id: str = DAG_ID) -> str:
        try:
            reply = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                             full_content="true")
        except ApiError as e:
            return str(e)
        content = reply.get("content", [])
        text = [c.get("event", "") if isinstance(c, dict) else str(c) for c in content]
        return "\n".join(text[-lines:])

    def follow(self, run_id: str, timeout: float, out=sys.stderr, dag_id: str = DAG_ID) -> str:
        """Prints each task's state as it changes until the run finishes; returns its state."""
        deadline = time.monotonic() + timeout
        seen: dict[str, str] = {}
        started = time.monotonic()
        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            tis = sorted(self.task_instances(run_id, dag_id), key=lambda t: t.get("start_date") or "9")
            for ti in tis:
                state = ti.get("state")
                if state and seen.get(ti["task_id"]) != state:
                    seen[ti["task_id"]] = state
                    done = sum(1 for t in tis if t.get("state") in ("success", "skipped"))
                    extra = f" in {ti['duration']:.1f} s" if state in FINISHED and ti.get("duration") else ""
                    print(f"[{time.monotonic() - started:6.1f} s] {done}/{len(tis)}  {ti['task_id']:<14} {state}{extra}",
                          file=out, flush=True)
            if run["state"] in FINISHED:
                return run["state"]
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not finish within {timeout:.0f} s (state {run['state']})")
            time.sleep(1.5)


def print_summaries(api: Airflow, run_id: str) -> None:
    keys = ("rows_in", "rows_out", "quarantined", "duplicates", "seconds")
    for ti in sorted(api.task_instances(run_id), key=lambda t: t.get("start_date") or "9"):
        s = api.summary(run_id, ti["task_id"]) or {}
        figures = " ".join(f"{k}={s[k]}" for k in keys if k in s)
        print(f"  {ti['task_id']:<14} {ti.get('state')!s:<8} {figures}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trigger (or re-run) mercado_daily for a day and follow it")
    run.add_argument("--date", required=True, type=date.fromisoformat, help="UTC day to process, YYYY-MM-DD")
    run.add_argument("--timeout", type=float, default=float(os.environ.get("MERCADO_RUN_TIMEOUT", 1800)))
    follow = sub.add_parser("follow", help="follow an existing run of mercado_daily")
    follow.add_argument("run_id")
    follow.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args(argv)

    api = Airflow.from_env()
    api.wait_for_dag()
    if args.command == "run":
        run_id = api.run_for_day(args.date)
        # Unpaused so the scheduler runs it (and from now on, each day after it closes).
        api.set_paused(False)
        print(f"run {run_id}: {api.url}/dags/{DAG_ID}/runs/{run_id}", file=sys.stderr)
    else:
        run_id = args.run_id
    state = api.follow(run_id, args.timeout)
    print_summaries(api, run_id)
    if state != "success":
        for ti in api.task_instances(run_id):
            if ti.get("state") == "failed":
                print(f"\n{ti['task_id']} failed; the end of its log:\n"
                      f"{api.log_tail(run_id, ti['task_id'], ti.get('try_number') or 1)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
