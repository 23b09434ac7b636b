"""At run time, too, the core loads no adapter and no framework.

import-linter (``make layers``) reads the source; these tests import every core module in a fresh
interpreter of the full workspace environment, where the adapter libraries *are* installed, and look
at what actually got loaded: a dynamic import or a leaky third-party dependency shows up here.
"""

import json
import subprocess
import sys

ADAPTER_LIBRARIES = (
    "alembic",
    "apscheduler",
    "click",
    "flask",
    "flask_sock",
    "psycopg",
    "reserver.cli",
    "reserver.flask",
    "reserver.sql",
    "sqlalchemy",
)
TEST_LIBRARIES = ("_pytest", "hypothesis", "pytest")

PROBE = """
import importlib, json, pkgutil, sys

skip = set(sys.argv[1:])

def walk(path, prefix):
    for info in pkgutil.iter_modules(path, prefix):
        if info.name in skip:
            continue
        module = importlib.import_module(info.name)
        yield info.name
        if info.ispkg:
            yield from walk(module.__path__, info.name + ".")

core = importlib.import_module("reserver.core")
imported = ["reserver.core", *walk(core.__path__, "reserver.core.")]
print(json.dumps({"imported": imported, "loaded": sorted(sys.modules)}))
"""


def import_core(*, skip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Import every ``reserver.core`` module but ``skip`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *skip], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return report["imported"], report["loaded"]


def offenders(loaded: list[str], libraries: tuple[str, ...]) -> list[str]:
    return [
        name
        for name in loaded
        if any(name == library or name.startswith(f"{library}.") for library in libraries)
    ]


def test_every_core_module_imports_without_adapter_libraries() -> None:
    imported, loaded = import_core()
    assert {"reserver.core.models", "reserver.core.ports"} <= set(imported)
    assert offenders(loaded, ADAPTER_LIBRARIES) == []


def test_core_outside_its_test_kit_needs_no_test_library() -> None:
    imported, loaded = import_core(skip=("reserver.core.testing",))
    assert "reserver.core.models" in imported
    assert not any(name.startswith("reserver.core.testing") for name in imported)
    assert offenders(loaded, TEST_LIBRARIES) == []
