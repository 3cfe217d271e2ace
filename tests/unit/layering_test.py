"""Every import in od_tools/ points down: the README's layering table says which package may import
which, and this test reads both the table and the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(".")  # the runfiles root: README.md and od_tools/ as //od_tools:py_sources lists them
TOOLS = "the tools"


def allowed_imports(readme: str) -> dict[str, set[str]]:
    """package -> the od_tools packages it may import, from the table between the layering markers."""
    block = readme.split("<!-- layering: begin -->", 1)[1].split("<!-- layering: end -->", 1)[0]
    table = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("package", "---"):
            continue
        name = TOOLS if cells[0].startswith(TOOLS) else cells[0].strip("`")
        table[name] = {"*"} if cells[1] == "any package" else set(re.findall(r"`(\w+)`", cells[1]))
    return table


def imports_of(path: Path) -> set[str]:
    """Top-level modules and od_tools packages a file imports (`od_tools.x.y` -> `x`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            parts = name.split(".")
            found.add(parts[1] if parts[0] == "od_tools" and len(parts) > 1 else f"<{parts[0]}>")
    return found


def package_of(path: Path, package_root: Path) -> str:
    relative = path.relative_to(package_root)
    return relative.parts[0] if len(relative.parts) > 1 else TOOLS


def test_the_table_is_a_layering_without_cycles():
    table = allowed_imports((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "common" in table and table["common"] == set()
    done: set[str] = set()
    while len(done) < len(table) - 1:  # peel off packages whose imports are all peeled off already
        ready = [p for p, deps in table.items() if p not in done and p != TOOLS and deps <= done]
        assert ready, f"the layering table has a cycle among {sorted(set(table) - done - {TOOLS})}"
        done.update(ready)


def test_every_import_in_od_tools_points_down():
    table = allowed_imports((ROOT / "README.md").read_text(encoding="utf-8"))
    package_root = ROOT / "od_tools"
    packages = {p.name for p in package_root.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(table) - {TOOLS}, f"the README's layering table lists {sorted(set(table) - {TOOLS})}, " \
                                             f"od_tools/ has {sorted(packages)}"
    wrong = []
    for path in sorted(package_root.rglob("*.py")):
        own = package_of(path, package_root)
        for imported in sorted(imports_of(path)):
            if imported in ("<tools>", "<tests>"):
                wrong.append(f"{path.relative_to(ROOT)} imports {imported.strip('<>')}/, which od_tools never ships")
            elif not imported.startswith("<") and imported != own and "*" not in table[own] and \
                    imported not in table[own]:
                wrong.append(f"{path.relative_to(ROOT)} ({own}) imports {imported}")
    assert not wrong, "imports the README's layering table does not allow:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source, expected", [
    ("from od_tools.config import checkpoints\nimport od_tools.export.metadata as m\n", {"config", "export"}),
    ("from tools.venv.make_venv import lock_subset\nimport numpy\n", {"<tools>", "<numpy>"}),
])
def test_imports_are_read_from_the_code(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert imports_of(path) == expected
