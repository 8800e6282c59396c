"""The task registry (tasks/registry.toml) for shell scripts and docs.

    python3 scripts/registry.py names      the task names in run order, one per line
    python3 scripts/registry.py chain      the same as `extract → clean → …`
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
        print(" → ".join(t["name"] for t in entries))
    elif what == "commands":
        print("\n".join(command(t) for t in entries))
    elif what == "readme":
        print(readme_table(entries))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
