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
