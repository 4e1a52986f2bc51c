"""The documentation covers the public API (the build itself runs in `.ci/run`)."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

import skaesep

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: Modules whose public functions and classes (or ``__all__``) are public API.
PUBLIC_MODULES = [
    "audio",
    "datasets",
    "discriminative",
    "metrics",
    "persistence",
    "plotting",
    "presets",
    "rbm",
    "separation",
    "spectrogram",
]


def documented_names():
    """Full names of the autosummary entries of docs/api.rst."""
    text = (DOCS / "api.rst").read_text()
    names = set()
    for block in re.findall(r"\.\. autosummary::\n(?:   :.*\n)*\n((?:   \S.*\n)+)", text):
        names.update(f"skaesep.{line.strip().lstrip('~')}" for line in block.splitlines())
    return names


def module_api(name):
    """Public names of ``skaesep.<name>``: its ``__all__``, else what it defines."""
    module = importlib.import_module(f"skaesep.{name}")
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        key
        for key, obj in vars(module).items()
        if not key.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    ]


def test_api_page_lists_every_name_of_skaesep_all():
    missing = sorted(set(f"skaesep.{n}" for n in skaesep.__all__) - documented_names())
    assert not missing, f"docs/api.rst lacks {missing}"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_api_page_lists_every_public_name_of_the_module(module):
    documented = documented_names()
    missing = []
    for name in module_api(module):
        obj = getattr(importlib.import_module(f"skaesep.{module}"), name)
        # A class or function re-exported by skaesep is documented there.
        top = getattr(skaesep, name, None) is obj and name in skaesep.__all__
        if f"skaesep.{module}.{name}" not in documented and not top:
            missing.append(name)
    assert not missing, f"docs/api.rst lacks skaesep.{module}: {missing}"


def test_every_documented_name_exists():
    gone = []
    for full in sorted(documented_names()):
        module, name = full.rsplit(".", 1)
        if not hasattr(importlib.import_module(module), name):
            gone.append(full)
    assert not gone, f"docs/api.rst lists names that do not exist: {gone}"


def test_cli_page_documents_every_subcommand_from_the_parser():
    from skaesep.cli import build_parser

    text = (DOCS / "cli.rst").read_text()
    # The option reference is generated from the parser itself (sphinx-argparse).
    assert re.search(r"\.\. argparse::\n   :module: skaesep\.cli\n   :func: build_parser\n", text)
    (sub,) = [a for a in build_parser()._actions if a.choices and a.dest == "command"]
    missing = [name for name in sub.choices if f"   * - ``{name}``" not in text]
    assert not missing, f"docs/cli.rst's table of subcommands lacks {missing}"
