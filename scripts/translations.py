"""Extract, merge, compile and check the translations of codelab_ext (one catalogue per language).

    python scripts/translations.py update    # extract every string, merge into the .po files, compile
    python scripts/translations.py compile   # .po -> .json (the panel) and .mo (server and CLI)
    python scripts/translations.py check     # what `make lint` runs: fails when anything is missing or stale

``make translations`` runs ``update``. Where the strings come from:

* the panel: ``trans.__()``/``_n()``/``_p()`` calls in ``src/**/*.ts(x)`` (tests excluded) and the
  titles/descriptions of ``schema/*.json``, extracted with jupyterlab-translate (its TypeScript
  extractor and its schema extractor, the ones JupyterLab's language packs are made with);
* the server and the command line: ``tr()``/``tr_n()`` calls (:mod:`codelab_ext.i18n`) in
  ``codelab_ext/**/*.py`` (the emulator excluded: it speaks for the cloud, in English). jupyterlab-translate's
  own Python extraction (``pybabel`` with dotted keywords such as ``trans.__``) finds nothing with
  current Babel, and our messages have named parameters, so they are read from the Python syntax tree
  here, which also checks that every ``{placeholder}`` has a parameter and the text is a literal.

Everything goes into ``codelab_ext/locale/<lang>/LC_MESSAGES/codelab_ext.po`` (sorted by msgid,
file names without line numbers, so that parallel changes rarely conflict). ``compile`` writes
``codelab_ext.json`` (the panel's strings, in the Jed format JupyterLab's translation endpoint serves,
via jupyterlab-translate's converter) and ``codelab_ext.mo`` (every string, via polib, as
jupyterlab-translate does). All three files are committed: the wheel ships them as they are.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import shutil
import string
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "codelab_ext"
DOMAIN = "codelab_ext"
LOCALE_DIR = ROOT / PACKAGE / "locale"
LANGUAGES = ("zh_CN",)
#: Python files whose messages are not ours to translate (the emulator plays Huawei Cloud)
PY_EXCLUDE = ("emulator", "labextension")
FRONTEND_PREFIXES = ("src/", "schema/")
PY_FUNCTIONS = {"tr": 1, "tr_n": 2}
#: calls whose first argument is a message a user reads: it must be a tr() message, not a str literal
PY_MESSAGE_CALLS = {
    "CodeLabError",
    "ValidationError",
    "ConfigError",
    "CredentialsError",
    "UpstreamError",
    "NotFoundError",
    "AuthError",
    "ForbiddenError",
    "ConflictError",
    "QuotaError",
    "ThrottledError",
    "UpstreamUnavailable",
    "UpstreamTimeout",
    "NoSshEndpointError",
    "UnsafeSshEndpointError",
    "CliError",
    "UsageError",
    "ArgumentTypeError",
}
#: methods that print to the user (the CLI's ctx.out / ctx.err)
PY_OUTPUT_METHODS = {"out", "err"}
WRAP = 100000


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    plural: str | None = None
    files: set[str] = field(default_factory=set)
    #: the named parameters a Python call passes (None: unknown, e.g. **kwargs)
    params: set[str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.msgctxt or "", self.msgid)


class ExtractError(Exception):
    pass


# ------------------------------------------------------------------------------------ extraction


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """jupyterlab-translate prints its configuration and progress: keep `make lint` readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def extract_frontend() -> list[Entry]:
    """The panel's strings, with jupyterlab-translate's extractors, from a copy of src/ and schema/."""
    from jupyterlab_translate.utils import extract_schema_strings, extract_tsx_strings

    # the console script `gettext-extract` sits beside this Python
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    entries: list[Entry] = []
    with tempfile.TemporaryDirectory(prefix="codelab-i18n-") as tmp:
        stage = Path(tmp)
        shutil.copytree(
            ROOT / "src", stage / "src", ignore=shutil.ignore_patterns("__tests__", "*.spec.ts", "*.spec.tsx")
        )
        shutil.copytree(ROOT / "schema", stage / "schema")
        shutil.copy(ROOT / "package.json", stage / "package.json")
        with _quiet_stdout():
            raw = extract_tsx_strings(stage) + extract_schema_strings(stage)
        for item in raw:
            files = {_relative(path, stage) for path, _line in item.get("occurrences", [])}
            entries.append(
                Entry(
                    msgid=item["msgid"],
                    msgctxt=item.get("msgctxt"),
                    plural=item.get("msgid_plural"),
                    files=files,
                )
            )
    return entries


def _relative(path: str, stage: Path) -> str:
    text = str(path).replace("\\", "/")
    for prefix in (str(stage.resolve()) + "/", str(stage) + "/"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.lstrip("/")
    if not text.startswith(FRONTEND_PREFIXES):
        text = "src/" + text  # gettext-extract runs inside the stage: paths are relative to it
    return text


def python_files() -> list[Path]:
    out = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT / PACKAGE).parts
        if parts[0] in PY_EXCLUDE:
            continue
        out.append(path)
    return out


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a format string (``{{`` is a literal brace)."""
    names = set()
    for _literal, name, _spec, _conv in string.Formatter().parse(text):
        if name is not None:
            names.add(re.split(r"[.\[]", name, maxsplit=1)[0])
    return names


def extract_python() -> tuple[list[Entry], list[str]]:
    """``tr("...", name=...)`` and ``tr_n("one", "many", n, ...)`` calls; problems found on the way."""
    entries: list[Entry] = []
    problems: list[str] = []
    for path in python_files():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            problem = _untranslated_literal(node)
            if problem:
                problems.append(f"{rel}:{node.lineno}: {problem}")
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name not in PY_FUNCTIONS:
                continue
            where = f"{rel}:{node.lineno}"
            count = PY_FUNCTIONS[name]
            texts = node.args[:count]
            if len(texts) < count or not all(
                isinstance(t, ast.Constant) and isinstance(t.value, str) for t in texts
            ):
                problems.append(
                    f"{where}: {name}() needs literal strings (no f-string, no variable): write "
                    f'{name}("... {{name}} ...", name=value) so the text can be translated'
                )
                continue
            msgid = texts[0].value  # type: ignore[attr-defined]
            plural = texts[1].value if count == 2 else None  # type: ignore[attr-defined]
            if any(kw.arg is None for kw in node.keywords):
                params = None
            else:
                params = {kw.arg for kw in node.keywords if kw.arg}
                if name == "tr_n":
                    params.add("n")
            try:
                wanted = placeholders(msgid) | (placeholders(plural) if plural else set())
            except ValueError as exc:
                problems.append(
                    f"{where}: {name}() text is not a valid format string ({exc}); write {{{{ for a brace"
                )
                continue
            if params is not None:
                if wanted - params:
                    problems.append(
                        f"{where}: {name}() has no parameter for {', '.join(sorted(wanted - params))}"
                    )
                unused = params - wanted - ({"n"} if name == "tr_n" else set())
                if unused:
                    problems.append(
                        f"{where}: {name}() parameter(s) {', '.join(sorted(unused))} not in the text"
                    )
            entries.append(Entry(msgid=msgid, plural=plural, files={rel}, params=params))
    return entries, problems


def _words(node: ast.expr) -> str:
    """The literal text of a str constant or an f-string (placeholders left out)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _words(node.left) + _words(node.right)
    if isinstance(node, ast.IfExp):
        return _words(node.body) + _words(node.orelse)
    return ""


def _untranslated_literal(node: ast.Call) -> str | None:
    """A message a user reads, written as a plain string (it would stay English)."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    is_message = name in PY_MESSAGE_CALLS
    is_output = isinstance(func, ast.Attribute) and name in PY_OUTPUT_METHODS
    if not (is_message or is_output) or not node.args:
        return None
    if re.search(r"[A-Za-z]{2,}", _words(node.args[0])):
        return (
            f"{name}() gets an English string that would never be translated: write "
            f'{name}(tr("... {{name}} ...", name=value)) (from .i18n import tr)'
        )
    return None


def template() -> tuple[dict[tuple[str, str], Entry], list[str]]:
    py_entries, problems = extract_python()
    merged: dict[tuple[str, str], Entry] = {}
    for entry in extract_frontend() + py_entries:
        if not entry.msgid:
            continue
        known = merged.get(entry.key)
        if known is None:
            merged[entry.key] = entry
        else:
            known.files |= entry.files
            known.plural = known.plural or entry.plural
    return merged, problems


# ------------------------------------------------------------------------------------ catalogues


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def version() -> str:
    return json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["version"]


def merge(language: str, entries: dict[tuple[str, str], Entry]) -> polib.POFile:
    """The catalogue of ``language`` for these entries: known translations kept, new ones empty."""
    path = po_path(language)
    old = polib.pofile(str(path), wrapwidth=WRAP) if path.is_file() else polib.POFile(wrapwidth=WRAP)
    known = {(e.msgctxt or "", e.msgid): e for e in old if not e.obsolete}
    po = polib.POFile(wrapwidth=WRAP)
    po.header = (
        "Simplified Chinese translations of codelab_ext: edit the msgstr lines, then `make translations`."
    )
    po.metadata = {
        "Project-Id-Version": f"{DOMAIN} {version()}",
        "Language": language,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": "nplurals=1; plural=0;",
    }
    for key in sorted(entries):
        entry = entries[key]
        before = known.get(key)
        item = polib.POEntry(
            msgid=entry.msgid, msgctxt=entry.msgctxt, occurrences=[(f, "") for f in sorted(entry.files)]
        )
        if entry.plural:
            item.msgid_plural = entry.plural
            previous = (
                before.msgstr_plural if before is not None and before.msgid_plural == entry.plural else {}
            )
            item.msgstr_plural = {0: previous.get(0, "")}
        else:
            item.msgstr = before.msgstr if before is not None and not before.msgid_plural else ""
        if before is not None and "fuzzy" in before.flags:
            item.flags.append("fuzzy")
        po.append(item)
    return po


def frontend_json(po: polib.POFile, language: str) -> str:
    """The Jed JSON of the panel's entries, written by jupyterlab-translate's converter."""
    from jupyterlab_translate.converters import convert_catalog_to_json

    front = polib.POFile(wrapwidth=WRAP)
    front.metadata = dict(po.metadata)
    for entry in po:
        if any(path.startswith(FRONTEND_PREFIXES) for path, _line in entry.occurrences):
            front.append(entry)
    with tempfile.TemporaryDirectory(prefix="codelab-i18n-") as tmp:
        source = Path(tmp) / f"{DOMAIN}.po"
        front.save(str(source))
        out = convert_catalog_to_json(source, Path(tmp), DOMAIN)
        return out.read_text(encoding="utf-8") + "\n"


def mo_bytes(po: polib.POFile) -> bytes:
    with tempfile.TemporaryDirectory(prefix="codelab-i18n-") as tmp:
        target = Path(tmp) / f"{DOMAIN}.mo"
        translated = polib.POFile(wrapwidth=WRAP)
        translated.metadata = dict(po.metadata)
        for entry in po:
            if "fuzzy" not in entry.flags and (entry.msgstr or any(entry.msgstr_plural.values())):
                translated.append(entry)
        translated.save_as_mofile(str(target))
        return target.read_bytes()


def outputs(language: str, po: polib.POFile) -> dict[Path, bytes]:
    base = po_path(language)
    return {
        base: str(po).encode("utf-8") + b"\n",
        base.with_suffix(".json"): frontend_json(po, language).encode("utf-8"),
        base.with_suffix(".mo"): mo_bytes(po),
    }


# ------------------------------------------------------------------------------------ problems


_PERCENT = re.compile(r"%\d+")


def translation_problems(po: polib.POFile, entries: dict[tuple[str, str], Entry]) -> list[str]:
    out = []
    for item in po:
        where = f"{DOMAIN}.po msgid {item.msgid!r}"
        texts = [item.msgstr] if not item.msgid_plural else list(item.msgstr_plural.values())
        if "fuzzy" in item.flags:
            out.append(f"{where}: marked fuzzy (check the translation, then remove the '#, fuzzy' line)")
        entry = entries.get((item.msgctxt or "", item.msgid))
        python = entry is not None and any(f.startswith(PACKAGE + "/") for f in entry.files)
        for text in texts:
            if not text:
                continue
            if set(_PERCENT.findall(text)) != set(_PERCENT.findall(item.msgid)):
                out.append(f"{where}: keep the placeholders {sorted(set(_PERCENT.findall(item.msgid)))}")
            if not python:
                continue
            wanted = placeholders(item.msgid) | (
                placeholders(item.msgid_plural) if item.msgid_plural else set()
            )
            try:
                fields = placeholders(text)
            except ValueError:
                out.append(f"{where}: the translation is not a valid format string (write {{{{ for a brace)")
                continue
            if fields - wanted or (wanted - {"n"}) - fields:
                out.append(f"{where}: keep the placeholders {sorted(wanted)} (got {sorted(fields)})")
    return out


def untranslated(po: polib.POFile) -> list[polib.POEntry]:
    out = []
    for item in po:
        if item.msgid_plural:
            if not all(item.msgstr_plural.values()):
                out.append(item)
        elif not item.msgstr:
            out.append(item)
    return out


def _show(item: polib.POEntry | Entry) -> str:
    files = sorted(item.files) if isinstance(item, Entry) else [path for path, _ in item.occurrences]
    context = f" [{item.msgctxt}]" if item.msgctxt else ""
    return f"    - {', '.join(files) or '?'}{context}: {item.msgid!r}"


# ------------------------------------------------------------------------------------ commands


def cmd_update() -> int:
    entries, problems = template()
    for language in LANGUAGES:
        po = merge(language, entries)
        for path, content in outputs(language, po).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file() or path.read_bytes() != content:
                path.write_bytes(content)
                print(f"wrote {path.relative_to(ROOT)}")
        missing = untranslated(po)
        if missing:
            rel = po_path(language).relative_to(ROOT)
            print(f"\n{len(missing)} string(s) still need a {language} translation (empty msgstr) in {rel}:")
            for item in missing:
                print(_show(item))
            print("Translate them there, then run `make translations` again.")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def cmd_compile() -> int:
    for language in LANGUAGES:
        po = polib.pofile(str(po_path(language)), wrapwidth=WRAP)
        for path, content in outputs(language, po).items():
            if path.suffix != ".po" and (not path.is_file() or path.read_bytes() != content):
                path.write_bytes(content)
                print(f"wrote {path.relative_to(ROOT)}")
    return 0


def cmd_check() -> int:
    entries, problems = template()
    failed = bool(problems)
    report: list[str] = []
    if problems:
        report.append("Messages that cannot be translated as written:")
        report.extend("    - " + p for p in problems)
    for language in LANGUAGES:
        path = po_path(language)
        rel = path.relative_to(ROOT)
        if not path.is_file():
            report.append(f"{rel} is missing.")
            failed = True
            continue
        current = polib.pofile(str(path), wrapwidth=WRAP)
        have = {(e.msgctxt or "", e.msgid) for e in current if not e.obsolete}
        new = [entries[k] for k in sorted(set(entries) - have)]
        gone = [e for e in current if (e.msgctxt or "", e.msgid) not in entries]
        merged = merge(language, entries)
        empty = [e for e in untranslated(merged) if (e.msgctxt or "", e.msgid) in have]
        wrong = translation_problems(merged, entries)
        stale = [
            p.relative_to(ROOT).as_posix()
            for p, content in outputs(language, merged).items()
            if not p.is_file() or p.read_bytes() != content
        ]
        if new:
            report.append(f"{len(new)} string(s) of the code are not in {rel} (no {language} translation):")
            report.extend(_show(e) for e in new)
        if empty:
            report.append(f"{len(empty)} string(s) in {rel} have an empty {language} translation:")
            report.extend(_show(e) for e in empty)
        if gone:
            report.append(f"{len(gone)} string(s) in {rel} are no longer in the code (stale):")
            report.extend(_show(e) for e in gone)
        if wrong:
            report.append("Translations that would break the message:")
            report.extend("    - " + w for w in wrong)
        if stale and not (new or gone):
            report.append(f"Generated files out of date with the code or with {rel.name}: {', '.join(stale)}")
        failed = failed or bool(new or empty or gone or wrong or stale)
    if failed:
        po_rel = po_path(LANGUAGES[0]).relative_to(ROOT)
        print("Translation check failed (every string of the panel, the server and the CLI ships in zh_CN).")
        print("\n".join(report))
        print(
            "\nHow to fix:\n"
            "  1. make translations   # adds new strings (empty msgstr), drops unused ones, recompiles\n"
            f'  2. edit {po_rel}: write the Simplified Chinese text in every empty msgstr "";\n'
            "     keep %1, %2 (panel) and {name} (server, CLI) placeholders exactly; no '#, fuzzy'\n"
            "  3. make translations   # compiles codelab_ext.json (panel) and codelab_ext.mo (server, CLI)\n"
            "  4. commit the .po, .json and .mo together\n"
            '  Python messages are written tr("Text with {name}.", name=value) (codelab_ext/i18n.py);\n'
            "  a merge conflict in the .json or .mo: take either side, then run `make translations`."
        )
        return 1
    done = ", ".join(LANGUAGES)
    print(f"translations: {len(entries)} strings, all translated ({done}), compiled files up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=("update", "compile", "check"))
    args = parser.parse_args(argv)
    try:
        return {"update": cmd_update, "compile": cmd_compile, "check": cmd_check}[args.command]()
    except ExtractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
