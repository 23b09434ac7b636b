"""Every workspace package is shaped the same way (STYLE.md section 1)."""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(path for path in (ROOT / "packages").iterdir() if (path / "src").is_dir())
CORE = ROOT / "packages" / "reserver-core"
ids = [package.name for package in PACKAGES]


def pyproject(path: Path) -> dict[str, Any]:
    with (path / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def module_name(package: Path) -> str:
    """``packages/reserver-core`` holds ``reserver.core``."""
    return package.name.removeprefix("reserver-")


def test_workspace_holds_core_and_sql() -> None:
    assert {"reserver-core", "reserver-sql"} <= {package.name for package in PACKAGES}


@pytest.mark.parametrize("package", PACKAGES, ids=ids)
@pytest.mark.parametrize("name", ["pyproject.toml", "README.md", "CHANGELOG.md"])
def test_package_has_its_files(package: Path, name: str) -> None:
    assert (package / name).is_file(), f"{package.name} has no {name}"


@pytest.mark.parametrize("package", PACKAGES, ids=ids)
def test_package_ships_type_information(package: Path) -> None:
    marker = package / "src" / "reserver" / module_name(package) / "py.typed"
    assert marker.is_file(), f"{marker.relative_to(ROOT)} is missing"


@pytest.mark.parametrize("package", PACKAGES, ids=ids)
def test_reserver_stays_a_namespace_package(package: Path) -> None:
    init = package / "src" / "reserver" / "__init__.py"
    assert not init.exists(), f"{init.relative_to(ROOT)} hides every other reserver.* package"


@pytest.mark.parametrize("package", PACKAGES, ids=ids)
def test_project_is_named_after_its_folder_and_builds_the_namespace(package: Path) -> None:
    config = pyproject(package)
    assert config["project"]["name"] == package.name
    assert config["project"]["readme"] == "README.md"
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/reserver"]


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != CORE], ids=lambda p: p.name)
def test_adapter_pins_the_core_minor_version(package: Path) -> None:
    major, minor = pyproject(CORE)["project"]["version"].split(".")[:2]
    wanted = f"reserver-core>={major}.{minor},<{major}.{int(minor) + 1}"
    pins = [
        dependency.replace(" ", "")
        for dependency in pyproject(package)["project"]["dependencies"]
        if Requirement(dependency).name == "reserver-core"
    ]
    assert pins == [wanted]


def test_workspace_root_installs_every_package() -> None:
    root = pyproject(ROOT)
    required = {Requirement(dependency).name for dependency in root["project"]["dependencies"]}
    assert {package.name for package in PACKAGES} <= required
    assert {package.name for package in PACKAGES} <= set(root["tool"]["uv"]["sources"])


@pytest.mark.parametrize("package", PACKAGES, ids=ids)
def test_changelog_keeps_a_changelog(package: Path) -> None:
    changelog = (package / "CHANGELOG.md").read_text(encoding="utf-8")
    assert changelog.startswith("# Changelog")
    assert "keepachangelog.com" in changelog
    version = re.escape(pyproject(package)["project"]["version"])
    assert re.search(rf"^## \[(Unreleased|{version})\]", changelog, re.MULTILINE)


def test_test_folders_are_not_packages() -> None:
    inits = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("__init__.py"))
    assert inits == [], "tests use --import-mode=importlib; an __init__.py shadows real packages"


def test_pre_commit_runs_the_locked_ruff() -> None:
    with (ROOT / "uv.lock").open("rb") as file:
        locked = {package["name"]: package["version"] for package in tomllib.load(file)["package"]}
    hooks = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    rev = re.search(r"ruff-pre-commit\s+rev:\s*v?(\S+)", hooks)
    assert rev is not None, "no ruff-pre-commit hook"
    assert rev.group(1) == locked["ruff"]
