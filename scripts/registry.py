"""The task registry (tasks/registry.toml) for shell scripts and docs.

    python3 scripts/registry.py names      the task names in run order, one per line
    python3 scripts/registry.py chain      the same as `extract → clean → …` (∥: side by side)
    python3 scripts/registry.py commands   each task's command without its flags, in run order, one
                                           per line (`target/debug/mercado-task extract`, and
                                           `scripts/iceberg.sh commit` for `program = "iceberg"`)
    python3 scripts/registry.py readme     the README's task table (a test checks the README has it)
"""

import pathlib
import sys
import tomllib

REGISTRY = pathlib.Path(__file__).resolve().parent.parent / "tasks" / "registry.toml"


def tasks(path: pathlib.Path = REGISTRY) -> list[dict]:
    with open(path, "rb") as f:
        return tomllib.load(f)["task"]


def dag_task_ids(entries: list[dict] | None = None) -> list[str]:
    """The DAG's task ids in run order: the registry's, with the shard plan (``shards``, a Python task of
    the DAG file, not of the registry) after extract, as dags/mercado_daily.py's DAG_TASK_IDS (its
    tests check the two agree)."""
    names = [t["name"] for t in (tasks() if entries is None else entries)]
    return [*names[:names.index("extract") + 1], "shards", *names[names.index("extract") + 1:]]


def upstreams(entries: list[dict] | None = None) -> dict[str, list[str]]:
    """Each registry task's upstream tasks: those its ``after`` names, else the one above it."""
    entries = tasks() if entries is None else entries
    return {t["name"]: list(t.get("after", [entries[i - 1]["name"]] if i else []))
            for i, t in enumerate(entries)}


def dag_upstreams(entries: list[dict] | None = None) -> dict[str, set[str]]:
    """Each DAG task's upstream task ids: the registry's, with the shard plan (``shards``) between extract
    and what follows it, and before every sharded task (it is mapped over the plan), as
    dags/mercado_daily.py wires them (its tests check the two agree)."""
    entries = tasks() if entries is None else entries
    sharded = {t["name"] for t in entries if t.get("sharded")}
    wired: dict[str, set[str]] = {"shards": {"extract"}}
    for name, before in upstreams(entries).items():
        wired[name] = {"shards" if b == "extract" else b for b in before} | ({"shards"} if name in sharded else set())
    return wired


def readme_table(entries: list[dict]) -> str:
    rows = ["| task | reads | writes | what it does |", "|---|---|---|---|"]
    rows += [f"| `{t['name']}` | {t['reads']} | {t['writes']} | {t['about']} |" for t in entries]
    return "\n".join(rows)


def command(task: dict) -> str:
    """How to run the task by hand from the checkout (its flags, such as --date, go after it)."""
    if task.get("program", "mercado-task") == "iceberg":
        return f"scripts/iceberg.sh {task['name'].removeprefix('iceberg_')}"
    return f"target/debug/mercado-task {task['name']}"


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "names"
    entries = tasks()
    if what == "names":
        print("\n".join(t["name"] for t in entries))
    elif what == "chain":
        # A task with the same upstream tasks as the one before it runs beside it (∥).
        ups, names = upstreams(entries), [t["name"] for t in entries]
        print(names[0] + "".join((" ∥ " if ups[b] == ups[a] else " → ") + b for a, b in zip(names, names[1:])))
    elif what == "commands":
        print("\n".join(command(t) for t in entries))
    elif what == "readme":
        print(readme_table(entries))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
