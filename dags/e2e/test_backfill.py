"""mercado_daily as users run it: a real Airflow (api-server, scheduler, dag-processor, triggerer;
LocalExecutor; metadata in PostgreSQL) started by scripts/airflow.sh, driven over its CLI and REST
API and looked at in a real browser.

1. Traffic for five dates through the API, with prices, item names and customer names changed after
   each day.
2. `airflow backfill create` over the five dates with five runs allowed at once, then the DAG
   unpaused (Airflow runs no run of a paused DAG): the scheduler runs the backfill, at least three
   runs overlap, no task needs a retry (retries are off, so any failure is loud). Unpausing also
   creates exactly one scheduled run (catchup off), which processes yesterday (UTC), the sixth day of
   traffic.
3. The same six dates run one by one, in date order, by the task binaries themselves into a fresh
   lake and warehouse: every `core` table and mart, row for row, and every gold manifest's row count
   are identical between the two.
4. No setting (database URLs, AWS secret) appears in any rendered template of the runs.
5. Headless Chromium logs into the UI, opens a backfilled run and finds all its tasks succeeded;
   the screenshot is kept in .local/ and must not be blank.
6. A first backfill takes no entity created after each date: each date's raw customers, vendors and
   items are exactly those PostgreSQL says existed by its end, and the manifests say "late".
7. History re-runs the same: after the week, new customers, vendors and items sign up, items are
   renamed and repriced, customers renamed, and the week's open carts checked out, all through the
   API; then the week is re-run by `airflow backfill create --reprocess-behavior completed` (four
   runs at once): every `core` table and mart equal, row for row, to before, every raw partition
   the one kept (before/after counts and digests in .local/rerun-story.json).

Own databases, DynamoDB table, buckets, AIRFLOW_HOME and ports, so it runs beside anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from datetime import date, datetime, timedelta, UTC

import pytest

from conftest import (DAG_TASK_IDS, ROOT, airflow_stack, airflow_sh, assert_same_warehouse_and_gold, dump,
                      expected_instances, http, iceberg_verify, instances, manifests, one_by_one, psql, wait_until,
                      warehouse_tables)

DATES = ["2025-04-07", "2025-04-08", "2025-04-09", "2025-04-10", "2025-04-11"]
# The day the scheduled run after unpausing processes.
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
SECRET = "secret-" + os.urandom(6).hex()
TIMINGS = ROOT / ".local" / "backfill-timings.json"
STORY = ROOT / ".local" / "rerun-story.json"
SCREENSHOT = ROOT / ".local" / "airflow-ui-run.png"


def max_overlap(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


@pytest.fixture(scope="module")
def stack():
    name = f"bf_{int(time.time())}_{os.getpid()}"
    with airflow_stack(name, [*DATES, YESTERDAY], MERCADO_MAX_ACTIVE_RUNS="5", AWS_SECRET_ACCESS_KEY=SECRET) as (env, client):
        yield env, client


@pytest.fixture(scope="module")
def backfill(stack):
    env, client = stack
    started = time.monotonic()
    airflow_sh(env, "backfill", "create", "--dag-id", "mercado_daily", "--from-date", DATES[0], "--to-date", DATES[-1],
               "--max-active-runs", "5", "--reprocess-behavior", "failed")
    client.set_paused(False)

    def finished():
        runs = client.get("/api/v2/dags/mercado_daily/dagRuns", limit=50)["dag_runs"]
        if len(runs) == len(DATES) + 1 and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        return None

    runs = wait_until("the backfill's and the scheduled run to finish", 900, finished)
    client.set_paused(True)
    seconds = round(time.monotonic() - started, 1)
    TIMINGS.write_text(json.dumps({"backfill_5_dates_and_scheduled_run_s": seconds}))
    return runs, seconds


def test_backfill_in_parallel_equals_dates_one_by_one(stack, backfill):
    env, client = stack
    runs, seconds = backfill
    by_day = {}
    for run in runs:
        tis = client.task_instances(run["dag_run_id"])
        # Every task once, each sharded one once per shard (a small day: one shard).
        states = {key: (t["state"], t["try_number"]) for key, t in instances(tis).items()}
        assert states == {key: ("success", 1) for key in expected_instances(1)}, (run["dag_run_id"], states)
        by_day[client.summary(run["dag_run_id"], "extract")["date"]] = run
    assert sorted(by_day) == [*DATES, YESTERDAY], "each run processes its own day"
    backfilled = [r for r in runs if r["run_type"] == "backfill"]
    assert sorted(by_day[d]["run_type"] for d in DATES) == ["backfill"] * len(DATES)
    spans = [(datetime.fromisoformat(r["start_date"]), datetime.fromisoformat(r["end_date"])) for r in backfilled]
    assert max_overlap(spans) >= 3, f"the scheduler ran at least three dates at once: {spans}"

    # Unpausing created one scheduled run (catchup off), for the day that closed last.
    scheduled = [r for r in runs if r["run_type"] == "scheduled"]
    assert len(scheduled) == 1 and by_day[YESTERDAY] is scheduled[0]
    assert scheduled[0]["data_interval_start"].startswith(YESTERDAY)
    assert datetime.fromisoformat(scheduled[0]["run_after"]).date() > date.fromisoformat(YESTERDAY)

    # The reference: the same dates one by one, in order, by the binaries into a fresh lake and
    # warehouse; every table and gold manifest equal.
    seq = one_by_one(env, [*DATES, YESTERDAY])
    assert_same_warehouse_and_gold(env, seq, len(DATES) + 1)
    # Item names changed between days: the dimension holds what each day's snapshot saw.
    assert int(psql(env["WAREHOUSE_URL"], "SELECT COUNT(*) FROM core.dim_inventory WHERE item_name LIKE '% v%'")) > 0

def test_no_setting_in_rendered_templates(stack, backfill):
    env, client = stack
    runs, _ = backfill
    for run in runs:
        for ti in client.task_instances(run["dag_run_id"]):
            rendered = json.dumps(ti.get("rendered_fields"))
            # Every task's command carries its date (the shard plan is a Python function: no command).
            if ti["task_id"] != "shards":
                assert "--date" in rendered and ("2025-04-" in rendered or YESTERDAY in rendered), rendered
            for value in (SECRET, env["DATABASE_URL"], env["WAREHOUSE_URL"]):
                assert value not in rendered, (ti["task_id"], rendered)


def png_is_blank(png: bytes) -> bool:
    """True when every pixel of an 8-bit RGB(A) PNG has the same colour."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    assert header is not None, "the screenshot has no IHDR chunk"
    width, height, depth, colour = header[:4]
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    colours: set[bytes] = set()
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        if y % 16 == 0:
            colours.update(bytes(line[x:x + 3]) for x in range(0, stride, channels * 8))
    return len(colours) < 2


def test_the_ui_shows_the_run_succeeded(stack, backfill):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    env, client = stack
    runs, _ = backfill
    run_id = sorted((r for r in runs if r["run_type"] == "backfill"), key=lambda r: r["logical_date"])[-1]["dag_run_id"]
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="mercado-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    try:
        page = f"{env['AIRFLOW_URL']}/dags/mercado_daily/runs/{run_id}"
        driver.get(page)
        wait_until("the login form", 60, lambda: driver.find_elements(By.NAME, "username"), every=0.5)
        driver.find_element(By.NAME, "username").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(client.password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until("the login to finish", 60, lambda: "/auth/login" not in driver.current_url, every=0.5)
        driver.get(page)

        # Every task of the DAG, the shard plan included, each sharded task once per shard (one here).
        count = len(expected_instances(1))

        def run_page():
            text = driver.find_element(By.TAG_NAME, "body").text
            # The run's own state and each task instance's.
            return text if f"{count} Task Instances" in text and text.count("Success") >= count + 1 else None

        text = wait_until(f"the run page with its {count} task instances", 90, run_page, every=1)
        assert run_id in text and "mercado_daily" in text
        for task in DAG_TASK_IDS:
            assert task in text
        lowered = text.lower()
        assert "error" not in lowered and "not found" not in lowered, text[:2000]
        png = driver.get_screenshot_as_png()
        SCREENSHOT.write_bytes(png)
        assert not png_is_blank(png), f"blank screenshot: {SCREENSHOT}"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def raw_manifests(env):
    return manifests(env, "raw")


def test_a_first_backfill_takes_no_entity_created_after_each_date(stack, backfill):
    env, _ = stack
    manifests = raw_manifests(env)
    created = {"customers": "joined_at", "vendors": "joined_at", "inventory": "created_at"}
    for day in DATES:
        end = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        for table, column in created.items():
            m = manifests[f"raw/postgres/{table}/dt={day}/_manifest.json"]
            assert m["snapshot"]["closed"] and m["snapshot"]["late"], (day, table, m["snapshot"])
            existed = int(psql(env["DATABASE_URL"], f"SELECT COUNT(*) FROM {table} WHERE {column} < '{end}Z'"))
            assert m["rows"] == existed, (day, table, m["rows"], existed)
    # Each day's traffic signed up new customers: a date's snapshot has fewer than the next's.
    counts = [manifests[f"raw/postgres/customers/dt={d}/_manifest.json"]["rows"] for d in DATES]
    assert counts == sorted(counts) and counts[0] < counts[-1], counts


def story_day_after(env, base):
    """What happens after the week closed, through the API: sign-ups, listings, renames, price
    changes, and the week's open carts checked out (customers renamed through PostgreSQL: the API
    has no customer PATCH). Returns how many old carts were checked out."""
    token = env["MERCADO_API_TOKEN"]
    tag = os.urandom(3).hex()
    for n in range(3):
        http("POST", f"{base}/customers/", token, {"first_name": "New", "last_name": f"Later {n}",
                                                    "email": f"later{n}.{tag}@example.com"})
        vendor = http("POST", f"{base}/vendors/", token, {"vendor_name": f"Later shop {n} {tag}", "region": "PT"})
        http("POST", f"{base}/inventory/?vendor_id={vendor['id']}", token,
             {"item_name": f"Later item {n}", "category": 2, "price": "9.90", "stock": 50})
    for item in http("GET", f"{base}/inventory/?limit=4", token)["items"]:
        http("PATCH", f"{base}/inventory/{item['id']}", token,
             {"price": round(float(item["price"]) * 1.5 + 1, 2), "item_name": f"{item['item_name']} renamed later"})
    psql(env["DATABASE_URL"], "UPDATE customers SET last_name = last_name || ' (renamed later)' WHERE id IN "
                              "(SELECT id FROM customers ORDER BY id LIMIT 3)")
    carts = psql(env["WAREHOUSE_URL"], "SELECT DISTINCT customer_id FROM core.fact_cart_snapshot ORDER BY 1").split()
    checked_out = 0
    for user in carts:
        try:
            http("POST", f"{base}/checkout/", token, {"user_id": int(user)})
            checked_out += 1
        except urllib.error.HTTPError as e:
            assert e.code in (404, 409, 422), f"checkout of {user}'s old cart: {e.code} {e.read()[:300]!r}"
    return checked_out


def test_the_week_rerun_later_gives_the_same_history(stack, backfill):
    env, client = stack
    url = env["WAREHOUSE_URL"]
    tables = warehouse_tables(url)
    before = {t: dump(url, t) for t in tables}
    raw_before = raw_manifests(env)
    base = f"http://{env['MERCADO_API_BIND']}"
    checked_out = story_day_after(env, base)
    assert checked_out > 0, "the week's open carts were checked out"

    known = {b["id"] for b in client.get("/api/v2/backfills", dag_id="mercado_daily")["backfills"]}
    started = time.monotonic()
    airflow_sh(env, "backfill", "create", "--dag-id", "mercado_daily", "--from-date", DATES[0], "--to-date", DATES[-1],
               "--max-active-runs", "4", "--reprocess-behavior", "completed")
    (rerun,) = [b for b in client.get("/api/v2/backfills", dag_id="mercado_daily")["backfills"] if b["id"] not in known]
    client.set_paused(False)
    try:
        wait_until("the re-run of the week to finish", 900,
                   lambda: client.get(f"/api/v2/backfills/{rerun['id']}").get("completed_at"))
    finally:
        client.set_paused(True)
    seconds = round(time.monotonic() - started, 1)

    # The week's runs, cleared and run again by the new backfill (started after it was created).
    since = datetime.fromisoformat(rerun["created_at"])
    runs = [r for r in client.get("/api/v2/dags/mercado_daily/dagRuns", limit=50)["dag_runs"]
            if r["run_type"] == "backfill" and r["start_date"] and datetime.fromisoformat(r["start_date"]) >= since]
    reran = {}
    for run in runs:
        summary = client.summary(run["dag_run_id"], "extract")
        assert run["state"] == "success", run
        states = {key: t["state"] for key, t in instances(client.task_instances(run["dag_run_id"])).items()}
        assert states == {key: "success" for key in expected_instances(1)}, (run["dag_run_id"], states)
        assert summary["figures"]["snapshot"] == "kept", summary
        reran[summary["date"]] = run
    assert sorted(reran) == DATES
    spans = [(datetime.fromisoformat(r["start_date"]), datetime.fromisoformat(r["end_date"])) for r in reran.values()]
    overlap = max_overlap(spans)
    assert overlap >= 2, f"the re-run ran dates at once: {spans}"

    after = {t: dump(url, t) for t in tables}
    raw_after = raw_manifests(env)
    story = {
        "rerun_seconds": seconds, "runs_at_once": overlap, "old_carts_checked_out": checked_out,
        "tables": {t: {"rows_before": before[t].count("\n"), "rows_after": after[t].count("\n"),
                       "sha256_before": hashlib.sha256(before[t].encode()).hexdigest()[:16],
                       "sha256_after": hashlib.sha256(after[t].encode()).hexdigest()[:16]} for t in tables},
    }
    STORY.write_text(json.dumps(story, indent=1))
    for table in tables:
        assert after[table] == before[table], f"{table} changed when the week was re-run (see {STORY})"
    # The Iceberg tables, committed by each run's iceberg_commit, read through the catalog by
    # pyiceberg and DuckDB: every gold table equal to the warehouse row for row, each date the files
    # of its last commit only (the re-run replaced each date; nothing of the first run visible).
    verified = iceberg_verify(env)
    assert verified["tables"]["fact_sales"]["dates"] >= len(DATES) and verified["dates_loaded"] >= len(DATES), verified
    week = {k: v for k, v in raw_before.items() if any(f"/dt={d}/" in k for d in DATES)}
    assert len(week) == len(DATES) * 6
    assert {k: raw_after[k] for k in week} == week, "every raw partition of the week is the one kept"
