"""Every command README.md and docs/guides/ show (both languages) is checked, so the guides cannot rot.

Like sqlite-utils' docs tests: the code blocks and the inline `ticketgate …` spans are extracted from the pages;
every `ticketgate` command line is parsed by the real argparse parser of its sub-command (an unknown option, a
missing required one or a wrong sub-command fails here with the page and line); every other command must be one we
know how to check (`./dev.sh` sub-commands, files that exist). The organiser's "before the event" blocks are run
for real in a fresh data folder, with the CSV the page shows.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs/guides/README.md", *sorted((ROOT / "docs/guides").glob("*/*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`([^`\n]*(?:\n[^`\n]*)?)`(?!`)")
SHELL_LANGS = ("", "sh", "shell", "bash", "console")


def _blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, first line number) of every fenced block."""
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 2) for m in FENCE.finditer(text)]


def _commands(body: str) -> list[str]:
    """Logical command lines of a shell block: continuations joined, comments and `&&`/`;`/`&` split off."""
    joined = re.sub(r"\\\n\s*", " ", body)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for w in words + [";"]:
            if w in (";", "&&", "&", "||"):
                if current:
                    out.append(shlex.join(current))
                current = []
            else:
                current.append(w)
    return out


def _shell_commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for lang, body, line in _blocks(text):
            if lang in SHELL_LANGS:
                found += [(f"{page.relative_to(ROOT)}:{line}", c) for c in _commands(body)]
    return found


def _inline_commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for m in INLINE.finditer(text):
            span = " ".join(m.group(1).split())
            if re.match(r"^(\.venv/bin/)?ticketgate( |$)", span):
                found.append((str(page.relative_to(ROOT)), span))
    return found


def _inline_other_commands() -> list[tuple[str, str]]:
    """`./dev.sh X` and `.venv/bin/python …` spans in prose."""
    found = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        found += [(str(page.relative_to(ROOT)), m.group(1)) for m in INLINE.finditer(text)
                  if m.group(1).startswith(("./dev.sh ", ".venv/bin/python "))]
    return found


def _parser(name: str):
    module = importlib.import_module(COMMANDS[name][0].split(":")[0])
    return module.build_parser() if hasattr(module, "build_parser") else None


def _parse(argv: list[str]) -> str:
    """'' when `ticketgate ARGV` parses with the real parser; else argparse's message."""
    if not argv:
        return ""
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        return f"unknown command {name!r}"
    parser = _parser(name)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            if parser is None:      # `demo` builds its parser in main(): check the options against its --help
                importlib.import_module(COMMANDS[name][0].split(":")[0]).main(["--help"])
            else:
                parser.parse_args(rest)
        except SystemExit as exc:
            if parser is not None and exc.code:
                return err.getvalue().strip().splitlines()[-1]
    if parser is None:
        unknown = [w for w in rest if w.startswith("--") and w.split("=")[0] not in out.getvalue()]
        return f"unknown option(s) {unknown}" if unknown else ""
    return ""


def _ticketgate_argv(command: str) -> list[str] | None:
    words = shlex.split(command)
    if words and re.fullmatch(r"(\.venv/bin/)?ticketgate", words[0]):
        return words[1:]
    return None


def test_the_pages_show_commands():
    shell = _shell_commands()
    assert sum(1 for _, c in shell if _ticketgate_argv(c) is not None) >= 30, "the extraction found too little"
    assert any("organiser.md" in where for where, _ in shell) and any("organisateur.md" in where for where, _ in shell)


@pytest.mark.parametrize("where,command", _shell_commands() + _inline_other_commands())
def test_every_command_in_a_code_block_is_real(where, command):
    argv = _ticketgate_argv(command)
    if argv is not None:
        assert not command.startswith("ticketgate ") or "README.md" in where, \
            f"{where}: commands in the docs use .venv/bin/ticketgate (a fresh clone after ./dev.sh setup)"
        problem = _parse(argv)
        assert not problem, f"{where}: `{command}`: {problem}"
        return
    words = shlex.split(command)
    if words[0] == "./dev.sh":
        cases = re.findall(r"^\s*([a-z|]+)\)", (ROOT / "dev.sh").read_text(), re.M)
        assert words[1] in {c for case in cases for c in case.split("|")}, f"{where}: ./dev.sh has no {words[1]!r}"
        return
    if words[0] == ".venv/bin/python":
        target = words[3] if words[1:3] == ["-m", "pytest"] else words[1]
        assert (ROOT / target).exists(), f"{where}: {target} does not exist"
        return
    pytest.fail(f"{where}: `{command}`: not a command the docs test knows how to check; add it here")


@pytest.mark.parametrize("where,span", _inline_commands())
def test_every_inline_command_names_real_subcommands(where, span):
    """Inline spans are summaries (`ticketgate agent scan|search|…`, `[--json]`): each alternative of each
    sub-command word must exist; options shown must be options of that command."""
    words = span.replace("\\|", "|").split()[1:]
    if words and words[0] == "…":
        return                      # "`.venv/bin/ticketgate …`": a placeholder for any command
    if words[:1] == ["--version"]:
        return
    if words[:1] == ["help"]:       # `ticketgate help server event`: that command's --help
        words = words[1:]
        if not words or words[0].isupper():
            return
    parser = None
    for i, word in enumerate(words):
        if i == 0:
            for alt in word.split("|"):
                assert alt in COMMANDS, f"{where}: `{span}`: no command {alt!r}"
            if "|" in word:
                return
            parser = _parser(word)
            continue
        if parser is None or word.startswith(("-", "[", "…", "'")) or word.isupper() or "." in word:
            break
        choices = _subcommands(parser)
        if not choices:
            break
        for alt in word.split("|"):
            assert alt in choices, f"{where}: `{span}`: no sub-command {alt!r} (has {sorted(choices)})"
        if "|" in word:
            break
        parser = choices[word]
    if "|" not in span and re.search(r"\s(?:[A-Z]|--)", span) and "[" not in span and "…" not in span:
        problem = _parse(words)
        assert not problem, f"{where}: `{span}`: {problem}"


def _subcommands(parser) -> dict:
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _organiser_blocks(page: Path) -> tuple[list[str], str]:
    """The commands of the page's first shell block and the CSV block that follows it."""
    blocks = _blocks(page.read_text(encoding="utf-8"))
    first = next(body for lang, body, _ in blocks if lang == "sh")
    csv = next(body for lang, body, _ in blocks if lang == "csv")
    return _commands(first), csv


@pytest.mark.parametrize("page", ["en/organiser.md", "fr/organisateur.md"])
def test_the_organiser_guide_runs_as_written(page, tmp_path):
    commands, csv = _organiser_blocks(ROOT / "docs/guides" / page)
    names = {c.split()[3] for c in commands if " import-orders " in c}
    for name in names:
        (tmp_path / name).write_text(csv, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_SERVER_HOME=str(tmp_path / "server"),
               HOME=str(tmp_path))
    for command in commands:
        argv = _ticketgate_argv(command)
        proc = subprocess.run([sys.executable, "-m", "agent", *argv], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"{page}: `{command}`\n{proc.stdout}\n{proc.stderr}"
    shown = subprocess.run([sys.executable, "-m", "agent", "server", "stats", "--json"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr


OFFLINE = ("price", "quota", "sales-window", "promo", "staff", "report")    # need no broker, device nor mail server


@pytest.mark.parametrize("page", ["en/organiser.md", "fr/organisateur.md"])
def test_the_organiser_guides_desk_staff_and_report_blocks_run_as_written(page, tmp_path):
    """Every block of the organiser's guide made only of commands that need no broker, device or mail server
    (prices, quotas, sales window, promotions, staff, reports) runs as written after the first block, in order, in
    one fresh data folder: a guide command that fails (or a --pin that does not read the PIN piped in) fails here."""
    first, csv = _organiser_blocks(ROOT / "docs/guides" / page)
    blocks = [_commands(body) for lang, body, _ in _blocks((ROOT / "docs/guides" / page).read_text(encoding="utf-8"))
              if lang == "sh"]
    offline = [b for b in blocks if b and all((_ticketgate_argv(c) or [""])[:1] == ["server"]
                                              and _ticketgate_argv(c)[1] in OFFLINE for c in b)]
    assert len(offline) >= 3, offline
    for name in {c.split()[3] for c in first if " import-orders " in c}:
        (tmp_path / name).write_text(csv, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TICKETGATE_SERVER_HOME=str(tmp_path / "server"),
               HOME=str(tmp_path), TICKETGATE_SERVER_DB="")
    for command in first + [c for b in offline for c in b]:
        proc = subprocess.run([sys.executable, "-m", "agent", *_ticketgate_argv(command)], cwd=tmp_path, env=env,
                              input="2468\n", capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, f"{page}: `{command}`\n{proc.stdout}\n{proc.stderr}"
