"""scripts/moto_server.py: TransactWriteItems that costs the same on any table size, stays atomic,
and lets exactly one of many concurrent conditional transactions through.

    .local/venv/bin/python -m pytest -q -p no:cacheprovider scripts/tests/test_moto_server.py

Each test module run starts its own servers on free ports of 127.0.0.1 (never the shared one on
$MOTO_PORT): the patched `scripts/moto_server.py`, and moto's own `moto.server` (unpatched) as
the reference for "same errors, same state as before" and to show the cost the patch removes.

Unpatched moto copies the whole table once per item of a transaction. Median wall time per
TransactWriteItems of this file's checkout (3 items), seen from the client, on a 2-core machine
with a Rust build running next to it:
    unpatched moto:  100 items 10-14 ms,  2,000 items 80-90 ms,  100,000 items 11.8 s
    moto_server.py:  100 items  4-5 ms,                          100,000 items  4-5 ms
The 100,000-item unpatched figure is not part of the run (loading and three transactions take a
minute); `pytest -s` prints the others.
"""

import concurrent.futures as cf
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "scripts" / "moto_server.py"
START_TIMEOUT = 60  # seconds for a server to answer /moto-api/


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


ENV = env_example()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A moto server process on a free port of 127.0.0.1; `stop` always kills it."""

    def __init__(self, argv_for_port, name):
        self.name = name
        self.log = tempfile.TemporaryFile()  # werkzeug logs every request: a pipe could fill up
        self.proc = None
        try:
            for _ in range(3):  # another process may take the free port before the server binds it
                self.port = free_port()
                self.proc = subprocess.Popen(argv_for_port(self.port), cwd=ROOT, stdin=subprocess.DEVNULL,
                                             stdout=self.log, stderr=subprocess.STDOUT)
                if self._wait_ready():
                    return
                self.stop()
                if "Address already in use" not in self.output():
                    break
        except BaseException:
            self.stop()
            raise
        raise RuntimeError(f"{name} did not start:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def client(self, service="dynamodb"):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=ENV["AWS_REGION"],
            aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=300,
                          max_pool_connections=32),
        )


@pytest.fixture(scope="module")
def patched():
    server = Server(lambda port: [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", str(port)],
                    "scripts/moto_server.py")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def upstream():
    server = Server(lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    "moto.server")
    try:
        yield server
    finally:
        server.stop()


# --- the table and the checkout, as api/src/store/dynamo.rs has them -------------------------------------


def S(value):
    return {"S": str(value)}


def N(value):
    return {"N": str(value)}


def create_table(ddb, name):
    key = lambda attr, kind: {"AttributeName": attr, "KeyType": kind}  # noqa: E731
    index = lambda index, pk, sk: {  # noqa: E731
        "IndexName": index,
        "KeySchema": [key(pk, "HASH"), key(sk, "RANGE")],
        "Projection": {"ProjectionType": "ALL"},
    }
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                              for a in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")],
        KeySchema=[key("pk", "HASH"), key("sk", "RANGE")],
        GlobalSecondaryIndexes=[index("by_day", "gsi1pk", "gsi1sk"), index("by_user", "gsi2pk", "gsi2sk")],
    )


def load_carts(ddb, table, count):
    """`count` carts USER#i/CART at version v1. moto 5.2.5 does not hold BatchWriteItem to
    DynamoDB's 25 items per call: 1,000 per call from a few threads load 100,000 in 11-19 s here,
    ~1.5 times faster than 25 per call. (moto's ImportTable from S3 is no faster: its JSON parser
    is pure Python.)"""

    def batch(start):
        requests = [{"PutRequest": {"Item": {"pk": S(f"USER#{i}"), "sk": S("CART"), "version": S("v1")}}}
                    for i in range(start, min(start + 1000, count))]
        assert not ddb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems")

    with cf.ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(batch, start) for start in range(0, count, 1000)]:
            future.result(timeout=300)
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] == count


def txn_item(txn, user, day="2026-11-24"):
    return {"pk": S(f"TXN#{txn}"), "sk": S("TXN"), "gsi1pk": S(f"DAY#{day}#0"), "gsi1sk": S(f"{day}T10:00:00Z#{txn}"),
            "gsi2pk": S(f"USER#{user}"), "gsi2sk": S(f"{day}T10:00:00Z#{txn}"), "total_price": N(42)}


def checkout(table, txn, user, version="v1"):
    """Like the API's checkout: the transaction, the cart deleted at its version, the idempotency key."""
    return [
        {"Put": {"TableName": table, "Item": txn_item(txn, user), "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": table, "Key": {"pk": S(f"USER#{user}"), "sk": S("CART")},
                    "ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "version"},
                    "ExpressionAttributeValues": {":v": S(version)}}},
        {"Put": {"TableName": table, "Item": {"pk": S(f"IDEM#{user}#{txn}"), "sk": S("IDEM"), "transaction_id": S(txn)},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
    ]


def timed_checkouts(ddb, tables, first, count):
    """Per-transaction wall times of checkouts of carts first..first+count-1, tables taking turns
    so that load on the machine hits both alike."""
    times = {table: [] for table in tables}
    for k in range(first, first + count):
        for table in tables:
            started = time.perf_counter()
            ddb.transact_write_items(TransactItems=checkout(table, f"t{k}", k))
            times[table].append(time.perf_counter() - started)
    return times


# --- a. cost independent of table size -------------------------------------------------------------


def test_transaction_cost_does_not_grow_with_the_table(patched):
    ddb = patched.client()
    create_table(ddb, "small")
    create_table(ddb, "big")
    started = time.monotonic()
    load_carts(ddb, "small", 100)
    load_carts(ddb, "big", 100_000)
    loaded = time.monotonic() - started

    def report(times, what, factor):
        small, big = statistics.median(times["small"]), statistics.median(times["big"])
        print(f"\nmoto_server.py: 100,000 items loaded in {loaded:.1f} s; median TransactWriteItems "
              f"{small * 1000:.1f} ms at 100 items, {big * 1000:.1f} ms at 100,000 (x{big / small:.2f}, {what})")
        assert big < factor * small, (what, small, big)

    # Warm-up (connections, code paths) with a loose bound, a quick way out when the cost grows:
    # unpatched, each of these takes ~12 s at 100,000 items, and thirty more would take minutes.
    report(timed_checkouts(ddb, ["small", "big"], 0, 3), "3 warm-up transactions each", 10)
    report(timed_checkouts(ddb, ["small", "big"], 3, 30), "30 transactions each", 3)

    # The checkouts did what they say: 33 carts gone, 33 transactions and keys written.
    assert ddb.describe_table(TableName="big")["Table"]["ItemCount"] == 100_000 - 33 + 2 * 33
    assert "Item" not in ddb.get_item(TableName="big", Key={"pk": S("USER#0"), "sk": S("CART")})
    assert "Item" in ddb.get_item(TableName="big", Key={"pk": S("TXN#t32"), "sk": S("TXN")})


def test_unpatched_moto_cost_grows_with_the_table(upstream):
    """What the test above guards against, on moto's own server (100 vs 2,000 items: 100,000
    would take minutes). The same 3x criterion fails here by a wide margin."""
    ddb = upstream.client()
    create_table(ddb, "small")
    create_table(ddb, "big")
    load_carts(ddb, "small", 100)
    load_carts(ddb, "big", 2_000)
    timed_checkouts(ddb, ["small", "big"], 0, 1)
    times = timed_checkouts(ddb, ["small", "big"], 1, 5)
    small, big = statistics.median(times["small"]), statistics.median(times["big"])
    print(f"\nunpatched moto: median TransactWriteItems {small * 1000:.1f} ms at 100 items, "
          f"{big * 1000:.1f} ms at 2,000 (x{big / small:.1f})")
    assert big > 3 * small, (small, big)


# --- b. atomic: a failed transaction leaves nothing, with the same error as unpatched moto ---------

DAY_QUERY = {"IndexName": "by_day", "KeyConditionExpression": "gsi1pk = :d",
             "ExpressionAttributeValues": {":d": S("DAY#2026-11-24#0")}}
USER_QUERY = {"IndexName": "by_user", "KeyConditionExpression": "gsi2pk = :u",
              "ExpressionAttributeValues": {":u": S("USER#1")}}


def seed(ddb, table):
    create_table(ddb, table)
    for item in (
        {"pk": S("USER#1"), "sk": S("CART"), "version": S("v1"), "lines": S("2 x sku-1")},
        {"pk": S("PRODUCT#1"), "sk": S("META"), "stock": N(5)},
        txn_item("old", 1),
    ):
        ddb.put_item(TableName=table, Item=item)


def state(ddb, table):
    """Everything a client can see of the table: items, both GSIs, the item count."""
    key = lambda item: (item["pk"]["S"], item["sk"]["S"])  # noqa: E731
    items = sorted(ddb.scan(TableName=table, ConsistentRead=True)["Items"], key=key)
    return {
        "items": items,
        "by_day": ddb.query(TableName=table, **DAY_QUERY)["Items"],
        "by_user": ddb.query(TableName=table, **USER_QUERY)["Items"],
        "count": ddb.describe_table(TableName=table)["Table"]["ItemCount"],
    }


def transact(ddb, items):
    """None on success, else what the client sees of the error."""
    try:
        ddb.transact_write_items(TransactItems=items)
        return None
    except ClientError as e:
        return {"Error": e.response["Error"], "CancellationReasons": e.response.get("CancellationReasons")}


def scenarios(t):
    cart = {"pk": S("USER#1"), "sk": S("CART")}
    product = {"pk": S("PRODUCT#1"), "sk": S("META")}
    sell = {"Update": {"TableName": t, "Key": product, "UpdateExpression": "SET stock = stock - :one",
                       "ConditionExpression": "stock >= :one", "ExpressionAttributeValues": {":one": N(1)}}}
    delete_cart = lambda version, **extra: {"Delete": {  # noqa: E731
        "TableName": t, "Key": cart, "ConditionExpression": "version = :v",
        "ExpressionAttributeValues": {":v": S(version)}, **extra}}
    put_txn = lambda txn: {"Put": {"TableName": t, "Item": txn_item(txn, 1),  # noqa: E731
                                   "ConditionExpression": "attribute_not_exists(pk)"}}
    return [
        # The last item's condition fails: the put, the delete and the update before it are undone.
        ("last condition fails", [put_txn("a"), delete_cart("v1"), sell,
                                  {"ConditionCheck": {"TableName": t, "Key": {"pk": S("PRODUCT#2"), "sk": S("META")},
                                                      "ConditionExpression": "attribute_exists(pk)"}}]),
        # A middle one fails and asks for the item back.
        ("middle condition fails, ALL_OLD", [put_txn("b"), delete_cart("v0", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
                                            sell]),
        # An Update that creates its item, undone.
        ("update creates, then fails", [
            {"Update": {"TableName": t, "Key": {"pk": S("COUNTER#1"), "sk": S("DAY")},
                        "UpdateExpression": "SET n = :one", "ExpressionAttributeValues": {":one": N(1)}}},
            put_txn("c"), sell,
            {"ConditionCheck": {"TableName": t, "Key": cart, "ConditionExpression": "version = :v",
                                "ExpressionAttributeValues": {":v": S("v9")}}}]),
        # Two operations on one item: a ValidationException after the first writes were applied.
        ("same item twice", [put_txn("d"), sell, {"Delete": {"TableName": t, "Key": {"pk": S("TXN#d"), "sk": S("TXN")}}}]),
        # A put moto rejects (a number where the key is a string), after other writes.
        ("invalid item", [put_txn("e"), sell, {"Put": {"TableName": t, "Item": {"pk": N(1), "sk": S("X")}}}]),
        ("success", [put_txn("f"), delete_cart("v1"), sell]),
        ("cart already gone", [put_txn("g"), sell, delete_cart("v1")]),
    ]


def stream_records(server, table):
    ddb, streams = server.client(), server.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    fields = ("Keys", "SequenceNumber", "NewImage", "OldImage")
    return [(r["eventName"], *(r["dynamodb"].get(f) for f in fields)) for r in records]


def test_transactions_are_atomic_with_the_same_errors_as_unpatched_moto(patched, upstream):
    ours, theirs = patched.client(), upstream.client()
    for ddb in (ours, theirs):
        seed(ddb, "atomic")
        ddb.update_table(TableName="atomic",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    initial = state(ours, "atomic")
    assert initial == state(theirs, "atomic")
    assert len(initial["by_day"]) == 1 and len(initial["by_user"]) == 1

    for name, items in scenarios("atomic"):
        before = state(ours, "atomic")
        error = transact(ours, items)
        after = state(ours, "atomic")
        # Same outcome and same table as moto's own (table-copying) transactions.
        assert error == transact(theirs, items), name
        assert after == state(theirs, "atomic"), name
        if name == "success":
            assert error is None
            assert after["count"] == before["count"]  # + the transaction, - the cart
            assert any(i["pk"] == S("TXN#f") for i in after["items"])
            assert not any(i["pk"] == S("USER#1") for i in after["items"])
            assert [i["stock"] for i in after["items"] if i["pk"] == S("PRODUCT#1")] == [N(4)]
            assert len(after["by_day"]) == len(before["by_day"]) + 1
        else:
            assert error is not None
            assert after == before, name  # nothing written, GSIs and count unchanged

    # The table's stream has only the successful transaction's records, as with moto's rollback.
    records = stream_records(patched, "atomic")
    assert [r[0] for r in records] == ["INSERT", "REMOVE", "MODIFY"]
    assert records == stream_records(upstream, "atomic")

    # The first scenario, spelled out: the client gets the cancellation with one reason per item.
    error = transact(ours, scenarios("atomic")[0][1])
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed"]


def test_failed_transaction_leaves_every_item_as_it_was(patched):
    ddb = patched.client()
    seed(ddb, "undo")
    before = state(ddb, "undo")
    error = transact(ddb, scenarios("undo")[0][1])  # put, delete, update, then a failing check

    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "None", "None", "ConditionalCheckFailed"]
    get = lambda pk, sk: ddb.get_item(TableName="undo", Key={"pk": S(pk), "sk": S(sk)}, ConsistentRead=True).get("Item")  # noqa: E731
    assert get("TXN#a", "TXN") is None  # the put
    assert get("USER#1", "CART")["version"] == S("v1")  # the delete
    assert get("PRODUCT#1", "META")["stock"] == N(5)  # the update
    assert state(ddb, "undo") == before  # GSI queries, scan and count included


def test_item_with_two_operations_rolls_back_the_items_before_it(patched):
    """moto raises for an item with two operations only when it reaches it, and leaves the items
    before it written; moto_server.py undoes them like any other failure."""
    ddb = patched.client()
    seed(ddb, "twoops")
    before = state(ddb, "twoops")
    cart = {"pk": S("USER#1"), "sk": S("CART")}
    error = transact(ddb, [
        {"Put": {"TableName": "twoops", "Item": txn_item("x", 1)}},
        {"Put": {"TableName": "twoops", "Item": {"pk": S("P#2"), "sk": S("X")}},
         "Delete": {"TableName": "twoops", "Key": cart}},
    ])
    assert error is not None and error["Error"]["Code"] == "ValidationException"
    assert state(ddb, "twoops") == before


# --- c. concurrency: exactly one of many conditional transactions on one item version -------------


def test_concurrent_checkouts_of_one_cart_make_exactly_one_transaction(patched):
    ddb = patched.client()
    create_table(ddb, "race")
    ddb.put_item(TableName="race", Item={"pk": S("USER#7"), "sk": S("CART"), "version": S("v1")})
    threads = 20
    barrier = threading.Barrier(threads, timeout=60)

    def attempt(i):
        barrier.wait()
        return transact(ddb, checkout("race", f"race{i}", 7))

    with cf.ThreadPoolExecutor(threads) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(attempt, i) for i in range(threads)]]

    assert sum(r is None for r in results) == 1, results
    assert all(r["Error"]["Code"] == "TransactionCanceledException" for r in results if r is not None)
    items = ddb.scan(TableName="race", ConsistentRead=True)["Items"]
    assert sorted(i["sk"]["S"] for i in items) == ["IDEM", "TXN"]  # the cart is gone, one checkout left


# --- d. a Query on an index reads its own items only -----------------------------------------------


def put_day(ddb, table, txns, days=("2026-11-23", "2026-11-24"), shards=3):
    """`txns` transactions spread over `days` x `shards` by_day keys, each with a cart beside it."""
    def batch(start):
        requests = []
        for k in range(start, min(start + 500, txns)):
            item = txn_item(f"q{k}", k % 7, days[k % len(days)])
            item["gsi1pk"] = S(f"DAY#{days[k % len(days)]}#{k % shards}")
            # As the API's transactions hold them: lines as a list of maps; other types besides.
            item["lines"] = {"L": [{"M": {"item_id": N(k), "qty": N(2), "price": N("12.50")}}]}
            item["flags"] = {"M": {"paid": {"BOOL": True}, "note": {"NULL": True}, "tags": {"SS": ["a", "b"]}}}
            if k == 3:  # one binary value: that answer goes through moto's own serializer
                item["blob"] = {"B": b"\x00\xff"}
            requests.append({"PutRequest": {"Item": item}})
        assert not ddb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems")

    for start in range(0, txns, 500):
        batch(start)


def pages(ddb, table, **query):
    """Every page of a Query: (items, LastEvaluatedKey) each."""
    out, start = [], {}
    while True:
        page = ddb.query(TableName=table, **query, **start)
        out.append((page["Items"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return out
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def index_queries():
    day = lambda d, shard, **extra: {  # noqa: E731
        "IndexName": "by_day", "KeyConditionExpression": "gsi1pk = :d" + extra.pop("and_", ""),
        "ExpressionAttributeValues": {":d": S(f"DAY#{d}#{shard}"), **extra.pop("values", {})}, **extra}
    return [
        day("2026-11-24", 0, Limit=7),
        day("2026-11-23", 2, Limit=5, ScanIndexForward=False),
        day("2026-11-24", 1, and_=" AND begins_with(gsi1sk, :p)", values={":p": S("2026-11-24T10:00:00Z#q1")}),
        day("2026-11-24", 1, FilterExpression="total_price > :n", values={":n": N(41)}, Limit=4),
        day("2026-11-25", 0),  # no such day
        {"IndexName": "by_user", "KeyConditionExpression": "gsi2pk = :u",
         "ExpressionAttributeValues": {":u": S("USER#3")}, "Limit": 6},
    ]


def test_index_queries_answer_as_unpatched_moto_before_and_after_writes(patched, upstream):
    ours, theirs = patched.client(), upstream.client()
    for ddb in (ours, theirs):
        create_table(ddb, "days")
        put_day(ddb, "days", 120)
    for query in index_queries():
        assert pages(ours, "days", **query) == pages(theirs, "days", **query), query
    # Writes of every kind change what the next Query sees, on both alike.
    for ddb in (ours, theirs):
        ddb.put_item(TableName="days", Item=txn_item("late", 3))
        ddb.delete_item(TableName="days", Key={"pk": S("TXN#q0"), "sk": S("TXN")})
        ddb.update_item(TableName="days", Key={"pk": S("TXN#q3"), "sk": S("TXN")},
                        UpdateExpression="SET gsi1pk = :d", ExpressionAttributeValues={":d": S("DAY#2026-11-24#1")})
        assert transact(ddb, [{"Put": {"TableName": "days", "Item": txn_item("tx", 3)}}]) is None
        put_day(ddb, "days", 130)  # 120..129 are new
    for query in index_queries():
        assert pages(ours, "days", **query) == pages(theirs, "days", **query), query
    found = {i["pk"]["S"] for items, _ in pages(ours, "days", **index_queries()[0]) for i in items}
    assert {"TXN#late", "TXN#tx", "TXN#q3", "TXN#q123"} <= found and "TXN#q0" not in found


def test_index_query_cost_does_not_grow_with_the_table(patched):
    """Unpatched, each page sorts and filters the whole table: moto.server took 0.50 s for these 7
    pages beside 100 other items and 1.45 s beside 20,000 (x2.9, growing with the table; a busy
    week's table is ten times that, read by extract's 16 day shards page by page). Patched: x1.0."""
    ddb = patched.client()
    for table, others in (("q_small", 100), ("q_big", 20_000)):
        create_table(ddb, table)
        load_carts(ddb, table, others)
        put_day(ddb, table, 600, days=("2026-11-24",), shards=1)
    query = {"IndexName": "by_day", "KeyConditionExpression": "gsi1pk = :d", "Limit": 100,
             "ExpressionAttributeValues": {":d": S("DAY#2026-11-24#0")}}
    times = {"q_small": [], "q_big": []}
    for _ in range(4):
        for table in times:
            started = time.perf_counter()
            got = pages(ddb, table, **query)
            times[table].append(time.perf_counter() - started)
            assert sum(len(items) for items, _ in got) == 600
    small, big = statistics.median(times["q_small"][1:]), statistics.median(times["q_big"][1:])
    print(f"\nmoto_server.py: a day's 600 items in pages of 100: {small * 1000:.0f} ms beside 100 other "
          f"items, {big * 1000:.0f} ms beside 20,000")
    assert big < 1.5 * small, (small, big)


def test_the_server_freezes_what_it_holds_out_of_the_garbage_collector():
    """Point 5 of scripts/moto_server.py: every FREEZE_EVERY requests what the server holds is
    frozen, so a full collection no longer walks the whole table under the request lock."""
    import gc
    import importlib.util

    spec = importlib.util.spec_from_file_location("mercado_moto_server", SERVER)
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    held = []

    def app(environ, start_response):
        held.append([{"S": str(len(held))}])  # what a table keeps between requests
        start_response("200 OK", [])
        return [b"{}"]

    serialized = server.SerializedApp(app)
    gc.unfreeze()
    try:
        for _ in range(serialized.FREEZE_EVERY - 1):
            assert serialized({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, lambda *_: None) == [b"{}"]
        assert gc.get_freeze_count() == 0
        serialized({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, lambda *_: None)
        assert gc.get_freeze_count() >= len(held)
    finally:
        gc.unfreeze()

