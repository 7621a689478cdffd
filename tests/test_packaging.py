"""Packaging a newcomer meets first: the build is quiet, every example's imports install.

The build check runs setuptools' own metadata hook with warnings as errors,
so a deprecated field (the old ``license = {text = ...}`` table warned on every
install) fails here instead of in a user's terminal. The import check reads
each example and documentation page: a third-party module it imports must be
a dependency of omnicx or of an extra that the file itself names
(``pip install 'omnicx[examples]'``), or a reader cannot know what to install.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
EXTRA = re.compile(r"omnicx\[([a-z,\s]+)\]")


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _extra_names(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The distributions an extra installs, following ``omnicx[other]`` references."""
    names: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][extra]:
        if requirement.startswith("omnicx["):
            for inner in requirement[7:requirement.index("]")].split(","):
                if inner.strip() not in seen:
                    names |= _extra_names(inner.strip(), seen | {extra})
        else:
            names.add(_requirement_name(requirement))
    return names


def _with_dependencies(names: set[str]) -> set[str]:
    """``names`` and what installing them installs (FastAPI brings Starlette along)."""
    found, todo = set(names), list(names)
    while todo:
        try:
            requirements = metadata.requires(todo.pop()) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" in requirement:  # only with an extra of that package
                continue
            name = _requirement_name(requirement)
            if name not in found:
                found.add(name)
                todo.append(name)
    return found


def _third_party_imports(source: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "omnicx"}


def _sources() -> list[tuple[str, str, str]]:
    """(name, code, the prose that tells what to install) of every example and page."""
    found = []
    for example in sorted((ROOT / "examples").glob("*.py")):
        code = example.read_text()
        found.append((example.name, code, ast.get_docstring(ast.parse(code)) or ""))
    for page in [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]:
        text = page.read_text()
        found.append((page.name, "\n".join(BLOCK.findall(text)), text))
    return found


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    for name in PROJECT["license-files"]:
        assert "Apache License" in (ROOT / name).read_text()[:200]
    # PEP 639: a license classifier next to an SPDX expression is an error.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_building_the_metadata_warns_nothing(tmp_path: Path) -> None:
    script = ("from setuptools import build_meta;"
              f"build_meta.prepare_metadata_for_build_wheel({str(tmp_path)!r})")
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    (metadata,) = tmp_path.glob("*.dist-info/METADATA")
    assert "License-Expression: Apache-2.0" in metadata.read_text()


@pytest.mark.parametrize(("name", "code", "prose"), _sources(),
                         ids=[name for name, _, _ in _sources()])
def test_what_an_example_imports_is_installed_by_what_it_names(name: str, code: str,
                                                               prose: str) -> None:
    core = {_requirement_name(r) for r in PROJECT["dependencies"]}
    named = {extra.strip() for group in EXTRA.findall(prose) for extra in group.split(",")}
    unknown = named - set(PROJECT["optional-dependencies"])
    assert not unknown, f"{name} names extras that do not exist: {unknown}"
    installed = _with_dependencies(core.union(*(_extra_names(extra) for extra in named)))
    distributions = packages_distributions()
    missing = {}
    for module in _third_party_imports(code):
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not dists & installed:
            missing[module] = sorted(dists)
    assert not missing, f"{name} imports {missing}: name the extra that installs them"
