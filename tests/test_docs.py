"""docs/ and README.md stay true to the repository: commands run from a fresh clone after `./dev.sh setup` (no path
of one machine, the project's `.venv/bin/…`), every file, script and test they name exists, every link resolves,
README indexes every page. The guides' `ticketgate` commands are checked against the CLI by test_docs_commands.py.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
DOC_FILES = sorted([*PAGES, *(ROOT / "docs").rglob("*.py")])

# a path that exists on one machine only: a home folder, this build machine's folders, a virtualenv not the clone's
MACHINE_PATH = re.compile(r"/work/|/home/[A-Za-z_]|/root/|/Users/|[A-Za-z]:\\|(?<![\w.])venv/bin|~/\.?venv\b")
# a command that needs the project's interpreter, written without it: at the start of a shell line (or after
# `&&`, `;`, `|`) in a code block, or at the start of an inline code span
TOOLS = r"(python3?|pytest|pip3?|mypy|lint-imports)(?= )"
BARE_IN_BLOCK = re.compile(r"(?:^\s*(?:\$ )?|(?:&&|;|\|)\s*)" + TOOLS)
BARE_INLINE = re.compile(r"(?<!`)`(python3?|pytest)(?= )")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NAMED = re.compile(r"(?<![\w./-])((?:benchmarks|tests)/[\w./*-]*\w)(?:::(\w+))?")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _lines(path: Path):
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        yield n, line


@pytest.mark.parametrize("path", DOC_FILES, ids=rel)
def test_no_path_of_one_machine(path):
    found = [f"{rel(path)}:{n}: {line.strip()}" for n, line in _lines(path) if MACHINE_PATH.search(line)]
    assert not found, "a path that exists on one machine only (use .venv/bin/… and paths in the clone):\n" + \
        "\n".join(found)


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_commands_use_the_projects_virtualenv(path):
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        if m.group(1) not in ("", "sh", "shell", "bash", "console"):
            continue
        first = text[:m.start(2)].count("\n") + 1
        for n, line in enumerate(m.group(2).splitlines(), first):
            for b in BARE_IN_BLOCK.finditer(line):
                if not (b.group(1) == "python3" and line[b.end(1):].startswith(" -m venv")):   # makes the .venv
                    found.append(f"{rel(path)}:{n}: {line.strip()}")
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for n, line in enumerate(prose.splitlines(), 1):
        if BARE_INLINE.search(line):
            found.append(f"{rel(path)}:{n}: {line.strip()}")
    assert not found, "run it with the clone's interpreter, `.venv/bin/…` after ./dev.sh setup:\n" + "\n".join(found)


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                          ast.ClassDef))}


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_every_script_and_test_named_exists(path):
    missing = []
    for n, line in _lines(path):
        for m in NAMED.finditer(line):
            target, name = ROOT / m.group(1), m.group(2)
            if "*" in m.group(1):
                if not list(ROOT.glob(m.group(1))):
                    missing.append(f"{rel(path)}:{n}: nothing matches {m.group(1)}")
                continue
            if not target.exists():
                missing.append(f"{rel(path)}:{n}: {m.group(1)} does not exist")
            elif name and target.suffix == ".py" and name not in _test_names(target):
                missing.append(f"{rel(path)}:{n}: {m.group(1)} has no {name}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("path", PAGES, ids=rel)
def test_every_relative_link_resolves(path):
    broken = []
    for n, line in _lines(path):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"[a-z]+:", target):
                continue            # http:, https:, mailto:
            if not (path.parent / target).exists():
                broken.append(f"{rel(path)}:{n}: {target}")
    assert not broken, "\n".join(broken)


def test_readme_indexes_every_docs_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Documentation"):]
    linked = {(ROOT / m.group(1)).resolve() for m in LINK.finditer(section)}
    pages = {p.resolve() for p in (ROOT / "docs").glob("*.md")} | {(ROOT / "docs/guides/README.md").resolve()}
    assert not pages - linked, f"not in README's Documentation section: {sorted(rel(p) for p in pages - linked)}"


def test_readme_set_up_is_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Set up and run"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["./dev.sh demo", "./dev.sh test"]


def test_docs_hold_no_work_diaries():
    assert not (ROOT / "docs/notes").exists() and not (ROOT / "docs/perf").exists()
    diary = re.compile(r"^#+ .*\b(What I did|What I built|Notes?:|Not done|Noticed and left alone)\b", re.M | re.I)
    found = [rel(p) for p in PAGES if diary.search(p.read_text(encoding="utf-8"))]
    assert not found, f"work-diary headings in {found}: move the decisions and limits into the area's page"


def _maintainer_commands() -> list[tuple[str, str]]:
    """`ticketgate …` lines of the shell blocks in docs/*.md (the guides and README are test_docs_commands.py's)."""
    from tests.test_docs_commands import SHELL_LANGS, _blocks, _commands, _ticketgate_argv
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for lang, body, line in _blocks(page.read_text(encoding="utf-8")):
            if lang not in SHELL_LANGS or re.search("[─│►▼]", body):      # a diagram, not commands
                continue
            for n, text in enumerate(re.sub(r"\\\n\s*", " ", body).splitlines(), line):
                # commands only (not a heredoc's lines); a synopsis's optional parts `[--tls]` are left out
                if re.match(r"\s*(\.venv/bin/)?ticketgate\s", text) and "…" not in text:
                    text = re.sub(r"\s\[[^\]]*\]", "", text.split("#")[0])
                    found += [(f"{rel(page)}:{n}", c) for c in _commands(text) if _ticketgate_argv(c) is not None]
    return found


@pytest.mark.parametrize("where,command", _maintainer_commands())
def test_maintainer_pages_commands_parse(where, command):
    """Each `ticketgate` command a maintainer page shows is accepted by the real parser of its sub-command."""
    from tests.test_docs_commands import _parse, _ticketgate_argv
    assert command.startswith(".venv/bin/ticketgate "), f"{where}: commands in docs use .venv/bin/ticketgate"
    problem = _parse(_ticketgate_argv(command))
    assert not problem, f"{where}: `{command}`: {problem}"
