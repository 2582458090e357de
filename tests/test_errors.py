"""One error root (issue 11): every exception class defined in the product folders derives from
agent.errors.TicketgateError, so `except TicketgateError` catches what is raised on purpose and nothing else."""
from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

from agent.errors import TicketgateError

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("agent", "drivers", "kiosk_ui", "provisioning", "server_stub")
BUILTIN_ERRORS = {name for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)}


def exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every top-level class whose bases name a builtin exception or another such class."""
    found: list[tuple[str, str]] = []
    names = set(BUILTIN_ERRORS)
    for _ in range(3):                           # subclasses of our own exceptions, across modules
        for path in sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in tree.body:
                if isinstance(node, ast.ClassDef):
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & names and (module, node.name) not in found:
                        found.append((module, node.name))
                        names.add(node.name)
    return found


def test_every_exception_class_has_the_one_root():
    classes = exception_classes()
    assert len(classes) >= 20
    outside = []
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        if not issubclass(cls, TicketgateError):
            outside.append(f"{module}.{name}")
    assert outside == []


def test_the_root_keeps_builtin_meaning():
    from agent.sync.signed import Rejected
    from provisioning.mqtt_connect import Refused
    from server_stub.store.base import NotFound
    assert issubclass(Rejected, ValueError) and issubclass(Refused, PermissionError)
    assert issubclass(NotFound, LookupError) and issubclass(NotFound, TicketgateError)
