"""The docs cannot rot: every example runs, every public name and command is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import omnicx
import omnicx.channels
from omnicx._cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _all_docs_text() -> str:
    return "\n".join(p.read_text() for p in [*DOCS, ROOT / "README.md"])


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_in_docs_run(page: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(page.read_text())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"{page.name}[block {number}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{page.name} block {number} failed: {exc!r}\n{block}")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_run(example: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(example)], check=False, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_every_public_name_is_documented() -> None:
    text = _all_docs_text()
    names = [*omnicx.__all__, *omnicx.channels.__all__]
    missing = [n for n in names if n != "__version__" and not re.search(rf"\b{n}\b", text)]
    assert not missing, f"undocumented public names: {missing}"


def test_every_cli_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = [c for c in ["demo", *COMMANDS] if f"omnicx {c}" not in text]
    assert not missing, f"undocumented commands: {missing}"


@pytest.mark.parametrize("module", [omnicx, omnicx.channels])
def test_all_is_sorted_and_real(module: object) -> None:
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert names == sorted(names)
    for name in names:
        assert hasattr(module, name), name
