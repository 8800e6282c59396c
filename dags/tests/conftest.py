import importlib
import os
import sys

import pytest

DAGS = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture
def load_dag(monkeypatch):
    """Imports the DAG file fresh under the given environment and returns its DAG object."""

    def load(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        sys.path.insert(0, DAGS)
        try:
            sys.modules.pop("mercado_daily", None)
            module = importlib.import_module("mercado_daily")
        finally:
            sys.path.remove(DAGS)
        return module, module.dag

    return load
