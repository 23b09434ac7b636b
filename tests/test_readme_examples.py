"""The first Python example of every README runs as printed (the 30-second examples)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", *sorted(ROOT.glob("packages/*/README.md"))]


def first_example(readme: Path) -> str | None:
    found = re.search(r"^```python\n(.*?)^```", readme.read_text(encoding="utf-8"), re.M | re.S)
    return found.group(1) if found else None


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_readme_example_runs(readme: Path, tmp_path: Path) -> None:
    example = first_example(readme)
    assert example is not None, f"{readme.relative_to(ROOT)} has no ```python example"
    done = subprocess.run(
        [sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
