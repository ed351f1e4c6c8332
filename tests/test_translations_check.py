"""The translation check of `make lint` (scripts/translations.py): green on the tree, red with a fix.

Each case runs the real script (jupyterlab-translate's extractors, node included) on a copy of the
parts of the tree it reads, changed the way another engineer would change it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PO = Path("codelab_ext/locale/zh_CN/LC_MESSAGES/codelab_ext.po")

pytestmark = pytest.mark.slow


def run(root: Path, command: str = "check") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "translations.py"), command],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The files the check reads, copied (the script finds its root from its own path)."""
    root = tmp_path / "tree"
    for name in ("src", "schema", "scripts"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "package.json", root / "package.json")
    shutil.copytree(
        ROOT / "codelab_ext",
        root / "codelab_ext",
        ignore=shutil.ignore_patterns("__pycache__", "labextension"),
    )
    return root


def test_the_tree_passes(tree: Path):
    result = run(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all translated" in result.stdout


def test_a_new_panel_string_fails_with_the_fix_and_update_adds_it(tree: Path):
    path = tree / "src" / "components" / "Section.tsx"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "\nexport const probe = (trans: any) => trans.__('A brand new label');\n")
    result = run(tree)
    assert result.returncode == 1
    assert "src/components/Section.tsx: 'A brand new label'" in result.stdout
    assert "make translations" in result.stdout and str(PO) in result.stdout

    updated = run(tree, "update")
    assert "A brand new label" in updated.stdout  # listed as still needing a translation
    po = (tree / PO).read_text(encoding="utf-8")
    assert 'msgid "A brand new label"\nmsgstr ""' in po
    still = run(tree)
    assert still.returncode == 1 and "empty zh_CN translation" in still.stdout

    (tree / PO).write_text(
        po.replace('msgid "A brand new label"\nmsgstr ""', 'msgid "A brand new label"\nmsgstr "全新标签"')
    )
    assert run(tree).returncode == 1  # the .json/.mo are now stale
    run(tree, "compile")
    assert run(tree).returncode == 0
    assert json.loads((tree / PO.with_suffix(".json")).read_text(encoding="utf-8"))["A brand new label"] == [
        "全新标签"
    ]


def test_stale_and_broken_translations_fail(tree: Path):
    po_path = tree / PO
    po = po_path.read_text(encoding="utf-8")
    # a string removed from the code stays in the catalogue
    path = tree / "src" / "components" / "ProgressSteps.tsx"
    path.write_text(path.read_text(encoding="utf-8").replace("'Start-up steps'", "'Start steps'"))
    # a translation that drops a placeholder
    po_path.write_text(po.replace('msgstr "第 %1/4 步：%2"', 'msgstr "第几步"'))
    result = run(tree)
    assert result.returncode == 1
    assert "'Start steps'" in result.stdout  # new
    assert "no longer in the code" in result.stdout and "'Start-up steps'" in result.stdout
    assert "keep the placeholders ['%1', '%2']" in result.stdout


def test_python_messages_must_be_literal_with_their_parameters(tree: Path):
    path = tree / "codelab_ext" / "handlers.py"
    text = path.read_text(encoding="utf-8")
    text += (
        "\n\ndef _probe(name):\n"
        '    tr(f"Bad {name}")\n'
        '    tr("Missing {what}", name=name)\n'
        '    raise ValidationError(f"Plain English {name}")\n'
    )
    path.write_text(text)
    result = run(tree)
    assert result.returncode == 1
    out = result.stdout
    assert "tr() needs literal strings" in out
    assert "tr() has no parameter for what" in out
    assert "parameter(s) name not in the text" in out
    assert "ValidationError() gets an English string that would never be translated" in out
