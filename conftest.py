"""Test session set-up shared by ``tests/`` and the doctests in ``skaesep/``."""

import os

# scikit-learn's check_array_api_input runs only when SciPy's array API mode is
# on, and SciPy reads this variable once, at import: set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# Figures are drawn off-screen in tests and doctests.
os.environ.setdefault("MPLBACKEND", "Agg")
