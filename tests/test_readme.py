"""The README's Python examples run as written (one script, in a fresh process, from another
working directory), and the README stays short."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text, in order."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_is_short_and_has_examples() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert len(python_blocks(text)) >= 2
    assert "SPEC §" not in text


@pytest.mark.timeout(900)
def test_readme_python_examples_run(tmp_path: Path) -> None:
    script = "\n\n".join(python_blocks(README.read_text()))
    (tmp_path / "readme_examples.py").write_text(script)
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "readme_examples.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
