"""Test session set-up shared by ``tests/`` and the doctests in ``skaesep/``."""

import importlib.util
import os
from pathlib import Path

import pytest

# scikit-learn's check_array_api_input runs only when SciPy's array API mode is
# on, and SciPy reads this variable once, at import: set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# Figures are drawn off-screen in tests and doctests.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def load_script():
    """``load_script(name)`` imports ``scripts/<name>.py``, which is not a package."""

    def load(name):
        path = Path(__file__).resolve().parent / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(autouse=True)
def _split_small_layers(monkeypatch):
    """Split even the tests' tiny RBM layers among threads.

    ``pretrain_rbm`` runs layers below ``MIN_SPLIT_WORK`` multiply-adds per
    product in one thread; every test layer is that small, so without this the
    tests at ``n_threads=2`` would not exercise the parallel path.
    """
    from skaesep import rbm

    monkeypatch.setattr(rbm, "MIN_SPLIT_WORK", 0)
