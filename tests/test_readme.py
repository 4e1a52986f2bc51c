"""The README's Python example runs as written.

Every ```python block runs; snippets that need the user's own files are fenced ```py.
"""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "separator.joblib").exists()
    assert namespace["sources"].shape == (2, namespace["tone"].size)
    mixture = namespace["tone"] + namespace["bursts"]
    np.testing.assert_allclose(namespace["sources"].sum(axis=0), mixture, atol=1e-4)
    assert list(namespace["names"]) == ["source_1", "source_2"]
    np.testing.assert_allclose(namespace["blind_sources"].sum(axis=0), mixture, atol=1e-4)


def test_ci_runs_the_readme_test_command():
    """`.ci/run` runs the README's test command as written, docs build included."""
    command = re.search(r"```bash\n(python3 -m venv [^\n]*pytest[^\n]*)\n```", README.read_text())
    assert command, "README has no test command"
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert command.group(1) in ci
    assert "python -m sphinx -W" in command.group(1)
