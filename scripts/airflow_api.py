#!/usr/bin/env python3
"""A small client of Airflow's REST API (v2), as the main command and the tests use it.

    airflow_api.py run --date YYYY-MM-DD [--timeout S]   trigger mercado_daily for that day (or clear
                       [--shards N]                       and re-run the day's run), unpause the DAG,
                                                          follow the run task by task, print each
                                                          task's summary; exit 0 when it succeeded.
                                                          --shards: the run's shards (the trigger
                                                          form's field; default: from the day's size)
    airflow_api.py follow RUN_ID                          follow an existing run

A sharded task has one instance per shard (a mapped task): each is followed, and shown, on its own
as ``clean[2]`` (the task id and its map index).

Reads AIRFLOW_URL (http://127.0.0.1:8080), AIRFLOW_USER (admin) and AIRFLOW_PASSWORD or the
passwords file scripts/airflow.sh made (AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, datetime, timedelta, UTC
from typing import Any

DAG_ID = "mercado_daily"
FINISHED = {"success", "failed"}
# The REST API's largest page (Airflow's [api] maximum_page_limit default).
PAGE = 100


def ti_key(ti: dict) -> tuple[str, int]:
    """A task instance's identity within its run: its task id and map index (-1 unless mapped)."""
    map_index = ti.get("map_index")
    return ti["task_id"], -1 if map_index is None else int(map_index)


def ti_label(ti: dict) -> str:
    """``clean[2]`` for the instance of shard 2 of a mapped task, else the task id."""
    task_id, map_index = ti_key(ti)
    return f"{task_id}[{map_index}]" if map_index >= 0 else task_id


def mapped(map_index: int) -> int | None:
    """A map index as a query parameter of Airflow's routes: none for a task that is not mapped."""
    return map_index if map_index >= 0 else None


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
    def from_env(cls) -> Airflow:
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
                    raise SystemExit(f"{dag_id} was not parsed within {timeout:.0f} s: {e}") from e
                time.sleep(1)

    def set_paused(self, paused: bool, dag_id: str = DAG_ID) -> None:
        self.patch(f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": paused})

    def run_for_day(self, day: date, dag_id: str = DAG_ID, conf: dict | None = None) -> str:
        """Starts the run that processes `day`, like the scheduled run after it closed (data
        interval [day, day+1)), with `conf` (the trigger form's fields, such as ``shards``); if one
        exists already, clears it so it runs again. Its run id. A run's conf cannot be changed, so
        when `conf` is given and the existing run has another, that run is deleted and the day
        triggered anew with it (Airflow keeps one run per logical date), under a run id of its own
        (``manual__<day>__<when>``: a deleted run's logs stay on disk under its id, and its shards'
        staged outputs under its stage id, the run id)."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        body = {
            "dag_run_id": f"manual__{day.isoformat()}",
            "logical_date": start.isoformat(),
            "data_interval_start": start.isoformat(),
            "data_interval_end": (start + timedelta(days=1)).isoformat(),
            "conf": conf or {},
            "note": "triggered by scripts/run.sh",
        }
        for _ in range(2):
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
            if conf is None or (existing[0].get("conf") or {}) == conf:
                self.post(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False})
                return run_id
            # Deleting a running run fails (409): finish or fail it first.
            self._send("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            body["dag_run_id"] = f"manual__{day.isoformat()}__{datetime.now(UTC):%Y%m%dT%H%M%S}"
        raise SystemExit(f"could not trigger a run for {day} with conf {conf}")

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[dict]:
        """Every task instance of the run (a mapped task's one per map index), page by page."""
        out: list[dict] = []
        while True:
            page = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=PAGE, offset=len(out))
            out += page["task_instances"]
            if not page["task_instances"] or len(out) >= page.get("total_entries", len(out)):
                return out

    def summary(self, run_id: str, task_id: str, dag_id: str = DAG_ID, map_index: int = -1) -> Any:
        """The task's JSON summary line, kept by Airflow as its XCom (a mapped task's: that of the
        instance `map_index`); the shard plan's is the list of the shards' settings. None if none."""
        try:
            entry = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
                             map_index=mapped(map_index))
        except ApiError:
            return None
        value = entry.get("value")
        while isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return value

    def log_entries(self, run_id: str, task_id: str, try_number: int, dag_id: str = DAG_ID,
                    map_index: int = -1) -> list:
        """The structured log of one try (Airflow 3 returns a list of events)."""
        reply = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                         full_content="true", map_index=mapped(map_index))
        return reply.get("content", []) if isinstance(reply, dict) else []

    def log_tail(self, run_id: str, task_id: str, try_number: int, lines: int = 25, dag_id: str = DAG_ID,
                 map_index: int = -1) -> str:
        try:
            entries = self.log_entries(run_id, task_id, try_number, dag_id, map_index)
        except (ApiError, OSError) as e:
            return str(e)
        return "\n".join(log_text(entries)[-lines:])

    def error_line(self, run_id: str, task_id: str, try_number: int, dag_id: str = DAG_ID,
                   map_index: int = -1) -> str:
        """The one line that says why a try failed (see ``error_line``)."""
        try:
            return error_line(self.log_entries(run_id, task_id, try_number, dag_id, map_index), task_id)
        except (ApiError, OSError) as e:
            return f"(its log could not be read: {e})"

    def try_of(self, run_id: str, task_id: str, try_number: int, dag_id: str = DAG_ID, map_index: int = -1) -> dict:
        """One past try of a task instance (its state, start and end; a mapped task's: of the
        instance `map_index`), or {} if Airflow has none."""
        task = task_id if map_index < 0 else f"{task_id}/{map_index}"
        try:
            return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/tries/{try_number}")
        except ApiError:
            return {}

    def retry_policies(self, dag_id: str = DAG_ID) -> dict[str, RetryPolicy]:
        """Each task's retries and delay, as the DAG declares them."""
        tasks = self.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"]
        return {t["task_id"]: RetryPolicy.from_task(t) for t in tasks}

    def follow(self, run_id: str, timeout: float, out=sys.stderr, dag_id: str = DAG_ID,
               heartbeat: float = 30.0) -> str:
        """Prints each task's state as it changes, with its reason, until the run finishes; returns
        the run's state. A retry prints the try that failed, the error's line and when the next try
        is due; a task that fails for good prints its error line; a wait without news prints a
        line every ``heartbeat`` seconds. Past ``timeout`` it stops with the end of the running
        tasks' logs (the bound on the whole run)."""
        started = time.monotonic()
        deadline = started + timeout
        policies = self.retry_policies(dag_id)
        seen: dict[tuple[str, int], tuple[str, int]] = {}
        last_news = started

        def say(text: str) -> None:
            nonlocal last_news
            last_news = time.monotonic()
            print(f"[{last_news - started:6.1f} s] {text}", file=out, flush=True)

        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            tis = sorted(self.task_instances(run_id, dag_id), key=lambda t: (t.get("start_date") or "9", ti_key(t)))
            done = sum(1 for t in tis if t.get("state") in ("success", "skipped"))
            for ti in tis:
                state, tries = ti.get("state"), ti.get("try_number") or 0
                key = ti_key(ti)
                if not state or seen.get(key) == (state, tries):
                    continue
                before = seen.get(key)
                seen[key] = (state, tries)
                policy = policies.get(ti["task_id"], RetryPolicy())
                if before and before[0] != "up_for_retry" and tries > before[1] >= 1:
                    # The failed try and its wait fell between two polls: say so all the same.
                    previous = self.try_of(run_id, ti["task_id"], before[1], dag_id, key[1])
                    if previous.get("state") in ("failed", "up_for_retry"):
                        say(f"{done}/{len(tis)}  {ti_label(ti):<16} up_for_retry: "
                            + retry_text(ti, before[1], previous.get("end_date"), policy, self))
                say(f"{done}/{len(tis)}  {ti_label(ti):<16} {describe(ti, policy, self)}")
            if run["state"] in FINISHED:
                return run["state"]
            now = time.monotonic()
            if now > deadline:
                busy = [t for t in tis if t.get("state") not in FINISHED | {"skipped", "upstream_failed"}]
                for ti in busy:
                    print(f"\n{ti_label(ti)} is {ti.get('state')}; the end of its log:\n"
                          f"{self.log_tail(run_id, ti['task_id'], ti.get('try_number') or 1, map_index=ti_key(ti)[1])}",
                          file=out)
                raise SystemExit(f"run {run_id} did not finish within {timeout:.0f} s (state {run['state']}; "
                                 f"MERCADO_RUN_TIMEOUT sets the bound)")
            if now - last_news >= heartbeat:
                waiting = [f"{ti_label(t)} {t.get('state')}" + (f" (try {t.get('try_number')})" if t.get("try_number") else "")
                           for t in tis if t.get("state") not in FINISHED | {"skipped", "upstream_failed", None}]
                say(f"{done}/{len(tis)}  still {run['state']}: " + (", ".join(waiting) or "waiting for the scheduler"))
            time.sleep(1.5)


class RetryPolicy:
    """A task's ``retries``, ``retry_delay``, ``retry_exponential_backoff`` (a multiplier in Airflow 3)
    and ``max_retry_delay``, as the REST API gives them."""

    def __init__(self, retries: int = 0, delay: float = 0.0, multiplier: float = 0.0, max_delay: float | None = None):
        self.retries, self.delay, self.multiplier, self.max_delay = retries, delay, multiplier, max_delay

    @classmethod
    def from_task(cls, task: dict) -> RetryPolicy:
        return cls(int(task.get("retries") or 0), seconds(task.get("retry_delay")),
                   float(task.get("retry_exponential_backoff") or 0), seconds(task.get("max_retry_delay")) or None)

    def window(self, failed_try: int) -> tuple[float, float]:
        """The shortest and longest wait before the next try after ``failed_try`` failed, as Airflow's
        ``TaskInstance.next_retry_datetime`` computes it (with backoff it adds a per-instance jitter
        of up to the same again)."""
        if self.multiplier in (0.0, 1.0) or self.multiplier < 0:
            low = high = self.delay
        else:
            low = max(1.0, math.ceil(self.delay * self.multiplier ** (failed_try - 1)))
            high = 2 * low - 1
        if self.max_delay:
            low, high = min(low, self.max_delay), min(high, self.max_delay)
        return low, high


def seconds(value) -> float:
    """A duration from the REST API: ``{"__type": "TimeDelta", "days", "seconds", "microseconds"}``,
    or a number of seconds."""
    if isinstance(value, dict):
        return value.get("days", 0) * 86400 + value.get("seconds", 0) + value.get("microseconds", 0) / 1e6
    return float(value or 0)


def attempt(ti: dict, policy: RetryPolicy) -> tuple[int, int]:
    """Which of its allowed tries this is, and how many there are. Airflow counts tries across
    clears (a cleared run's first new try may be try 3) and allows up to ``max_tries + 1``."""
    tries, total = ti.get("try_number") or 0, policy.retries + 1
    max_tries = ti.get("max_tries")
    first = (policy.retries if max_tries is None else int(max_tries)) + 1 - total
    return max(1, tries - first), total


def retry_text(ti: dict, try_number: int, end_date: str | None, policy: RetryPolicy, api: Airflow) -> str:
    """``try k of n failed: <why>; try k+1 due at …``."""
    k, total = attempt({**ti, "try_number": try_number}, policy)
    why = api.error_line(ti["dag_run_id"], ti["task_id"], try_number, map_index=ti_key(ti)[1])
    low, high = policy.window(try_number)
    ended = parse_time(end_date) or datetime.now(UTC)
    due = (f"at {ended + timedelta(seconds=low):%H:%M:%S} UTC" if low == high else
           f"between {ended + timedelta(seconds=low):%H:%M:%S} and {ended + timedelta(seconds=high):%H:%M:%S} UTC")
    return f"try {k} of {total} failed: {why}; try {k + 1} due {due}"


def describe(ti: dict, policy: RetryPolicy, api: Airflow) -> str:
    """One task's new state with its reason."""
    state, tries = ti.get("state"), ti.get("try_number") or 0
    k, total = attempt(ti, policy)
    if state == "success":
        took = f" in {ti['duration']:.1f} s" if ti.get("duration") else ""
        return f"success{took}" + (f" (try {k} of {total})" if k > 1 else "")
    if state == "up_for_retry":
        return "up_for_retry: " + retry_text(ti, tries, ti.get("end_date"), policy, api)
    if state == "failed":
        why = api.error_line(ti["dag_run_id"], ti["task_id"], tries, map_index=ti_key(ti)[1])
        return f"failed for good (try {k} of {total}): {why}"
    if state in ("queued", "scheduled", "running") and k > 1:
        return f"{state} (try {k} of {total})"
    return str(state)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def log_text(entries: list) -> list[str]:
    """A structured log as lines of text; an exception's type and message on lines of their own."""
    lines = []
    for entry in entries:
        if not isinstance(entry, dict):
            lines.append(str(entry))
            continue
        lines.append(str(entry.get("event", "")))
        for exc in entry.get("error_detail") or []:
            if isinstance(exc, dict):
                lines.append(f"{exc.get('exc_type', 'Exception')}: {exc.get('exc_value', '')}")
    return lines


def error_line(entries: list, task_id: str) -> str:
    """Why a try failed, in one line: the task's own reason (the binary's ``<task> failed: …`` on
    stderr), else the last exception Airflow logged (for example that no Docker engine answered),
    else the last line of the log."""
    lines = [line for line in log_text(entries) if line.strip()]
    marker = f"{task_id} failed: "
    for line in reversed(lines):
        if marker in line:
            return line[line.index(marker):].strip()
    for entry in reversed(entries):
        if isinstance(entry, dict) and entry.get("error_detail"):
            chain = [e for e in entry["error_detail"] if isinstance(e, dict)]
            if chain:
                # The chain starts with the exception raised last; its cause is more telling when
                # Airflow re-raised it as its own.
                first = chain[-1] if len(chain) > 1 and chain[-1].get("exc_value") else chain[0]
                return f"{first.get('exc_type', 'Exception')}: {first.get('exc_value', '')}".strip()
    return lines[-1].strip() if lines else "(the log is empty)"


def print_summaries(api: Airflow, run_id: str) -> None:
    """Each task instance's state and figures, a sharded task's once per shard (``clean[2]``); the
    shard plan says how many shards it chose."""
    for ti in sorted(api.task_instances(run_id), key=lambda t: (t.get("start_date") or "9", ti_key(t))):
        s = api.summary(run_id, ti["task_id"], map_index=ti_key(ti)[1])
        print(f"  {ti_label(ti):<16} {ti.get('state')!s:<8} {figures(s)}")


def figures(summary) -> str:
    """A task's summary in a few figures: its counts and rows per second, or for the shard plan
    (a list of the shards' settings) how many shards."""
    if isinstance(summary, list):
        return f"shards={len(summary)}"
    if not isinstance(summary, dict):
        return ""
    keys = ("rows_in", "rows_out", "quarantined", "duplicates", "seconds")
    return " ".join(f"{k}={summary[k]}" for k in keys if k in summary) + throughput(summary)


def throughput(summary: dict) -> str:
    """The task's rows read per second of its own time, when it says both."""
    rows, seconds = summary.get("rows_in"), summary.get("seconds")
    if not rows or not seconds:
        return ""
    return f" rows/s={rows / seconds:,.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="trigger (or re-run) mercado_daily for a day and follow it")
    run.add_argument("--date", required=True, type=date.fromisoformat, help="UTC day to process, YYYY-MM-DD")
    run.add_argument("--shards", type=int, default=None,
                     help="split the day's transactions into this many shards (1 to 16; default: chosen from the "
                          "day's size); a run of the day with other settings is replaced")
    run.add_argument("--timeout", type=float, default=float(os.environ.get("MERCADO_RUN_TIMEOUT", 1800)),
                     help="give up (exit non-zero) when the run has not finished by then (seconds; MERCADO_RUN_TIMEOUT)")
    follow = sub.add_parser("follow", help="follow an existing run of mercado_daily")
    follow.add_argument("run_id")
    follow.add_argument("--timeout", type=float, default=float(os.environ.get("MERCADO_RUN_TIMEOUT", 1800)))
    for command in (run, follow):
        command.add_argument("--heartbeat", type=float, default=float(os.environ.get("MERCADO_FOLLOW_HEARTBEAT", 30)),
                             help="print the run's state at least this often (seconds) while nothing changes")
    args = parser.parse_args(argv)

    api = Airflow.from_env()
    api.wait_for_dag()
    if args.command == "run":
        run_id = api.run_for_day(args.date, conf=None if args.shards is None else {"shards": args.shards})
        # Unpaused so the scheduler runs it (and from now on, each day after it closes).
        api.set_paused(False)
        print(f"run {run_id}: {api.url}/dags/{DAG_ID}/runs/{run_id}", file=sys.stderr)
    else:
        run_id = args.run_id
    state = api.follow(run_id, args.timeout, heartbeat=args.heartbeat)
    print_summaries(api, run_id)
    if state != "success":
        for ti in api.task_instances(run_id):
            if ti.get("state") == "failed":
                print(f"\n{ti_label(ti)} failed; the end of its log:\n"
                      f"{api.log_tail(run_id, ti['task_id'], ti.get('try_number') or 1, map_index=ti_key(ti)[1])}",
                      file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
