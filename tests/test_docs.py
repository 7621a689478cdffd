"""The docs cannot rot: every example runs, every public name and command is documented."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import omnicx
import omnicx.channels
from omnicx._cli import COMMANDS, _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]  # every page a reader copies code from
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _all_docs_text() -> str:
    return "\n".join(p.read_text() for p in [*DOCS, ROOT / "README.md"])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
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


def _cli_sections() -> dict[str, str]:
    """docs/cli.md by section: ``## `omnicx NAME` `` -> its text; ``""`` -> the rest."""
    sections: dict[str, str] = {"": ""}
    name = ""
    for line in (ROOT / "docs" / "cli.md").read_text().splitlines():
        heading = re.fullmatch(r"## `omnicx (\S+)`", line)
        if heading:
            name = heading.group(1)
            sections[name] = ""
        elif line.startswith("## "):
            name = ""
        sections[name] += line + "\n"
    return sections


def _mentions(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` as a word (``--channel`` is not in ``--channels``)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def test_every_cli_option_is_documented_in_its_section() -> None:
    sections = _cli_sections()
    parser = _parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"omnicx {option}" for action in parser._actions
               for option in action.option_strings
               if option not in ("-h", "--help") and not _mentions(sections[""], option)]
    for name, command in commands.choices.items():
        section = sections.get(name)
        if section is None:
            missing.append(f"the section of omnicx {name}")
            continue
        for action in command._actions:
            if action.dest == "help":
                continue
            names = action.option_strings or [action.dest.upper()]
            missing += [f"omnicx {name} {n}" for n in names if not _mentions(section, n)]
    assert not missing, f"undocumented in docs/cli.md: {missing}"


@pytest.mark.parametrize("module", [omnicx, omnicx.channels])
def test_all_is_sorted_and_real(module: object) -> None:
    names = list(module.__all__)  # type: ignore[attr-defined]
    assert names == sorted(names)
    for name in names:
        assert hasattr(module, name), name


def test_the_readme_runs_as_a_script_again_and_again(tmp_path: Path) -> None:
    """Pasted into a file and run twice, as a newcomer does: the second run finds the
    history the first one left and adds nothing to it."""
    script = tmp_path / "readme.py"
    script.write_text("\n".join(BLOCK.findall((ROOT / "README.md").read_text())))
    outputs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, str(script)], check=False, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and "Where is my order 48213?" in outputs[0]
    with omnicx.open(tmp_path / "history.db", create=False) as history:
        assert history.report()["interactions"] != {}
