"""moto's server for Mercado's local S3, DynamoDB and IAM, on 127.0.0.1.

Same app as `moto_server`, with four differences:

1. Each request is handled under one lock. moto's in-memory DynamoDB checks a transaction's
   conditions and then applies its writes without a lock, so two threads can both pass
   `version = :v` on the same cart. Real DynamoDB makes TransactWriteItems atomic; serialising
   requests gives the emulator the same guarantee, which the "50 concurrent checkouts make exactly
   one transaction" test depends on.

2. TransactWriteItems keeps an item-level undo log instead of copying tables. moto 5.2.5
   deep-copies the whole table once per item of the transaction (its rollback copy), so one
   checkout (3 items) takes ~85 ms with 2,000 items in the table and ~12 s with 100,000, all of it
   under the lock above. The replacement below is moto's own transact_write_items with the copies
   replaced by a log of the original versions of just the items the transaction touches; on
   failure exactly those are put back. Everything else moto derives from `Table.items` on read
   (GSIs, LSIs, ItemCount, scans), so it is consistent after a rollback too. A checkout now takes
   ~5 ms at any table size (scripts/tests/test_moto_server.py). The patch is only valid for the
   moto version it was written against: the server refuses to start on another one.

3. A Query on an index reads only the items of its hash key value. moto answers every page of such
   a Query by sorting the whole table and filtering it (extract's 16 day shards, page by page, on a
   table of a busy week: minutes, past the SDK's timeouts). Here the items are grouped once by the
   index's hash key value, in the order moto's scan returns them, and a page filters only its group;
   the grouping is dropped by any DynamoDB request that is not a read (every request runs under the
   lock of point 1, so no write can slip between). moto's own query does the rest (conditions,
   sort, pages, projection), so the answers are the same.

4. Query and Scan answers are written by `json.dumps`. moto 5.2.5 passes every response through its
   generic, model-driven serializer, which walks each attribute value of each item in Python: a busy
   day's pages (orders with their lines) took seconds each under the lock, and extract's 16 shards
   queued past the SDK's 120 s bound. DynamoDB's JSON protocol is the items' attribute values as
   they are, which moto already holds as plain dicts; answers holding binary values (base64 on the
   wire) still go through moto's serializer.

5. What the server holds is frozen out of the garbage collector every few thousand requests
   (`gc.collect()` then `gc.freeze()`, as long-lived Python servers do). A busy week's table is
   millions of small objects, and each of Python's full collections walked all of them under the
   lock: pauses of 3 to 8 s that grew with the table, until a 44,695-order flash-sale day's writes
   timed out (the clients' 5 s bound). Frozen objects are still freed by reference counting; only a
   reference cycle formed among them later would stay, which an emulator can afford. A request's
   body is read before the lock is taken, so an upload never stalls waiting for it.
"""

import argparse
import copy
import gc
import hashlib
import inspect
import io
import json
import os
import sys
import threading

import moto
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

try:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table
    from moto.dynamodb.responses import DynamoHandler, DynamoResult
except ImportError as e:
    sys.exit(f"scripts/moto_server.py: refusing to start: moto {moto.__version__} lacks what its "
             f"TransactWriteItems patch (written for moto 5.2.5) uses: {e}")

# --- TransactWriteItems with an item-level undo log -----------------------------------------------

PATCHED_MOTO_VERSION = "5.2.5"

# sha256 of the source of every moto function the patch copies or whose data layout it relies on:
# transact_write_items (replaced: ours is a copy of it minus the table copies), how items are keyed
# and stored in Table.items (hash -> Item, or hash -> {range -> Item}, a defaultdict that lookups
# grow), and how stream records are appended. If any of them changes, the patch must be re-read
# against the new code; `python scripts/moto_server.py --fingerprints` prints the current values.
EXPECTED_SOURCES = {
    "DynamoDBBackend.transact_write_items": "81db2cb7d94e39c9",
    "DynamoDBBackend.get_item": "290b95c46b38bc5a",
    "DynamoDBBackend.get_keys_value": "1f948797496ddc2c",
    "DynamoDBBackend.put_item": "f5d9a5042c77b89e",
    "DynamoDBBackend.delete_item": "083a4bb1af18f6fd",
    "DynamoDBBackend.update_item": "218984588dd689a5",
    "Table.__init__": "a56181a75aa27005",
    "Table.get_item": "b08e98fe37b7e583",
    "Table.put_item": "de23933013ef8426",
    "Table.delete_item": "1594f7b07616c8cb",
    "StreamShard.add": "357dc6da267e5dd7",
    "Table.query": "002b4d00be6df07c",
    "Table.all_items": "c80d2ee3c896acd0",
    "DynamoHandler.query": "681834c64038af93",
    "DynamoHandler.scan": "530223d9fd284f2b",
    "DynamoHandler.serialized": "af486a0ef1327162",
    "DynamoResult.__init__": "e2394775cd5ef6ad",
}

_OWNERS = {"DynamoDBBackend": DynamoDBBackend, "Table": Table, "StreamShard": StreamShard,
           "DynamoHandler": DynamoHandler, "DynamoResult": DynamoResult}


def source_fingerprints() -> dict[str, str]:
    out = {}
    for name in EXPECTED_SOURCES:
        owner, attr = name.split(".")
        source = inspect.getsource(getattr(_OWNERS[owner], attr))
        out[name] = hashlib.sha256(source.encode()).hexdigest()[:16]
    return out


def check_moto_internals() -> None:
    """Exits with a clear message unless moto is the exact version the patch was written for."""
    problems = []
    if moto.__version__ != PATCHED_MOTO_VERSION:
        problems.append(f"moto is {moto.__version__}, the patch was written for {PATCHED_MOTO_VERSION}")
    try:
        found = source_fingerprints()
    except (OSError, TypeError, AttributeError) as e:  # source missing, or a function gone
        problems.append(f"cannot read moto's DynamoDB source: {e!r}")
    else:
        changed = [name for name, digest in EXPECTED_SOURCES.items() if found[name] != digest]
        if changed:
            problems.append("these moto functions differ from the ones the patch was checked against: "
                            + ", ".join(changed))
    if problems:
        sys.exit(
            "scripts/moto_server.py: refusing to start: its TransactWriteItems patch (item-level undo "
            "log instead of moto's per-item table copies) does not match the installed moto.\n  - "
            + "\n  - ".join(problems)
            + f"\nPin moto[server]=={PATCHED_MOTO_VERSION} in python/requirements.txt, or re-check "
            "the patch against the new moto/dynamodb/models/__init__.py and update "
            "PATCHED_MOTO_VERSION and EXPECTED_SOURCES (see --fingerprints)."
        )


class _UndoLog:
    """The original versions of the items a transaction touches, and how to put them back."""

    def __init__(self):
        self.entries = []  # (table, hash_key, range_key, hash_key_was_present, copy of the original)
        self.seen = set()
        self.streams = {}  # id(table) -> (shard, its record list, the list's length)

    def remember(self, table, hash_key, range_key):
        """Logs the item's current version (once per item) and returns it, like `table.get_item`."""
        if table.stream_shard is not None and id(table) not in self.streams:
            shard = table.stream_shard
            self.streams[id(table)] = (shard, shard.items, len(shard.items))
        # Before the lookup: Table.get_item on a table with a sort key adds an empty
        # `items[hash_key]` (items is a defaultdict) that the rollback then removes again.
        hash_key_was_present = hash_key in table.items
        current = table.get_item(hash_key, range_key)
        slot = (id(table), hash_key, range_key)
        if slot not in self.seen:
            self.seen.add(slot)
            # Update changes the Item in place, so keep a copy, not a reference.
            self.entries.append((table, hash_key, range_key, hash_key_was_present, copy.deepcopy(current)))
        return current

    def rollback(self):
        for table, hash_key, range_key, hash_key_was_present, original in reversed(self.entries):
            if table.range_key_attr is None:  # items[hash_key] is the Item
                if original is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = original
            else:  # items[hash_key] is {range_key: Item}
                if original is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                    if not hash_key_was_present and not table.items.get(hash_key, True):
                        del table.items[hash_key]
                else:
                    table.items[hash_key][range_key] = original
        for shard, records, length in self.streams.values():
            # StreamShard.add appends, or starts a new list once a Lambda has been sent the records.
            del records[length:]
            shard.items = records


def transact_write_items(self, transact_items):
    """moto 5.2.5's DynamoDBBackend.transact_write_items, with an undo log instead of table copies.

    Kept line for line with moto's version (same checks, order, errors and cancellation reasons),
    except: the original versions of the touched items are logged before each operation, and any
    failure puts back exactly those. moto also rolled back on its validation errors and on failed
    conditions; here every error that escapes rolls back, including a malformed item (more than one
    operation) after earlier items were applied, which moto left half-written.
    """
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    undo = _UndoLog()
    try:
        _transact_write_items(self, transact_items, undo)
    except BaseException:
        undo.rollback()
        raise


def _transact_write_items(self, transact_items, undo):
    target_items = set()

    def check_unicity(table_name, key):
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item = None
        # Check transact writes are not performing multiple operations on the same item
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            # moto: current = self.get_item(table_name, key); the same three steps, plus the log.
            table = self.get_table(table_name)
            hash_key, range_key = self.get_keys_value(table, key)
            current = undo.remember(table, hash_key, range_key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                update_expression = op["UpdateExpression"]
                self.update_item(
                    table_name,
                    key,
                    update_expression=update_expression,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise  # rolled back by the caller
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # noqa: E722 Do not use bare except
            # For other exceptions, capture their details
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)  # rolled back by the caller


# --- Query on an index: only the items of the hash key value --------------------------------------

# DynamoDB requests that change no item: any other one drops the index groups.
DYNAMODB_READS = frozenset({
    "Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems", "DescribeTable", "ListTables",
    "DescribeTimeToLive", "DescribeContinuousBackups", "ListTagsOfResource", "DescribeLimits",
    "DescribeEndpoints",
})


class _IndexGroups:
    """Per (table, index): its items grouped by the index's hash key value, until the next write."""

    def __init__(self):
        self.groups: dict[tuple[int, str], dict] = {}
        self.override = threading.local()

    def forget(self) -> None:
        self.groups.clear()

    def of(self, table, index_name: str, attr: str, value):
        key = (id(table), index_name)
        groups = self.groups.get(key)
        if groups is None:
            groups = {}
            for item in _original_all_items(table):
                found = item.attrs.get(attr)
                if found:
                    groups.setdefault(found, []).append(item)
            self.groups[key] = groups
        return groups.get(value, [])


INDEX_GROUPS = _IndexGroups()
_original_all_items = Table.all_items
_original_query = Table.query


def all_items(self):
    """moto's Table.all_items, or the one group a Query on an index is reading (see `query`)."""
    items = getattr(INDEX_GROUPS.override, "items", None)
    return _original_all_items(self) if items is None else items


def query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
          projection_expressions, index_name=None, consistent_read=False, filter_expression=None,
          hash_key_conditions=None, range_key_conditions=None, **filter_kwargs):
    """moto's Table.query, its scan of the table narrowed to the items whose index hash key matches
    (moto keeps exactly those of its scan on a single hash key condition: same items, same order)."""
    args = (self, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
            projection_expressions, index_name, consistent_read, filter_expression)
    kwargs = dict(hash_key_conditions=hash_key_conditions, range_key_conditions=range_key_conditions,
                  **filter_kwargs)
    if not index_name or not hash_key_conditions or len(hash_key_conditions) != 1:
        return _original_query(*args, **kwargs)
    attr, value = hash_key_conditions[0]
    INDEX_GROUPS.override.items = INDEX_GROUPS.of(self, index_name, attr, value)
    try:
        return _original_query(*args, **kwargs)
    finally:
        INDEX_GROUPS.override.items = None


# --- Query and Scan answers by json.dumps ----------------------------------------------------------

_original_serialized = DynamoHandler.serialized


def holds_binary(value) -> bool:
    """Whether an answer holds a binary attribute value (B, BS), which the wire carries as base64."""
    if isinstance(value, dict):
        return any(k in ("B", "BS") or holds_binary(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_binary(v) for v in value)
    return False


def serialized(self, action_result):
    """moto's response for the action; a Query's or Scan's body as the plain JSON it is."""
    if (isinstance(action_result, DynamoResult) and self._get_action() in ("Query", "Scan")
            and not holds_binary(action_result.result)):
        # moto's own status and headers (those of an empty answer); the CRC32 header is computed
        # later, on this body.
        status, headers, _ = _original_serialized(self, DynamoResult({}))
        return status, headers, json.dumps(action_result.result, separators=(",", ":"))
    return _original_serialized(self, action_result)


def install_patches() -> None:
    check_moto_internals()
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.all_items = all_items
    Table.query = query
    DynamoHandler.serialized = serialized


# --- the server ------------------------------------------------------------------------------------


class SerializedApp:
    # Requests between two freezes (point 5): each collection then walks only what they made.
    FREEZE_EVERY = 5000

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.requests = 0

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        # The body is read before the lock is taken: an upload waiting for the lock behind a busy
        # day's DynamoDB pages would otherwise stop sending, and the SDK's stalled-stream guard
        # fails it (seen: extract's PutObject at 200,000 orders a day, 0 B/s for its grace period).
        length = environ.get("CONTENT_LENGTH")
        if length and length.isdigit() and int(length) > 0:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(int(length)))
        with self.lock:
            if target.startswith("DynamoDB") and target.rsplit(".", 1)[-1] not in DYNAMODB_READS:
                INDEX_GROUPS.forget()
            # Materialise the body inside the lock: the response is built lazily by some backends.
            body = list(self.app(environ, start_response))
            self.requests += 1
            if self.requests % self.FREEZE_EVERY == 0:
                gc.collect()
                gc.freeze()
            return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("MOTO_PORT", "55000")))
    parser.add_argument("--fingerprints", action="store_true",
                        help="print the installed moto's source fingerprints for EXPECTED_SOURCES and exit")
    args = parser.parse_args()
    if args.fingerprints:
        print(f"moto {moto.__version__}")
        for name, digest in source_fingerprints().items():
            print(f'    "{name}": "{digest}",')
        return
    install_patches()
    os.environ["MOTO_PORT"] = str(args.port)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedApp(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
