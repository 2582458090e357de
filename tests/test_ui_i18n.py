"""FR/EN: every English text the app can show has a French translation; language from the device, switchable."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kiosk_ui import i18n

ROOT = Path(__file__).resolve().parent.parent / "kiosk_ui"


def app_msgids() -> set[str]:
    """Literal tr("…") calls, plus the label tables shown through tr(variable)."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        for m in re.finditer(r"\btr\(\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')", path.read_text()):
            found.add(ast.literal_eval(m.group(1)))
    from kiosk_ui.presenters import lists, status
    from kiosk_ui.presenters.labels import LABEL_TABLES
    found |= set(status._MODE_LABELS.values()) | set(status._DIRECTIONS.values()) | set(lists._STATES.values())
    try:   # the drivers' "printer not found" checklist is shown through tr() too
        from drivers.printers.discovery import HELP_CHECKLIST
        found |= {line.split(". ", 1)[-1] for line in HELP_CHECKLIST[1:]}
    except ImportError:
        pass
    for table in LABEL_TABLES:
        found |= set(table)
    return found


_STR = r"(\"(?:[^\"\\\\]|\\\\.)*\")"


def app_plurals() -> set[str]:
    """Literal tr_n("singular", "plural", …) calls, as the catalogue keys them ("singular\\0plural")."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        for m in re.finditer(r"\btr_n\(\s*" + _STR + r",\s*" + _STR, path.read_text()):
            found.add(ast.literal_eval(m.group(1)) + "\0" + ast.literal_eval(m.group(2)))
    return found


def test_every_text_is_translated():
    fr = i18n.catalogue("fr")
    missing = sorted(m for m in app_msgids() | app_plurals() if m not in fr)
    assert missing == []


def test_plurals_agree_with_the_number():
    try:
        i18n.set_language("fr")
        assert i18n.tr_n("{n} in", "{n} in", 1) == "1 entrée" and i18n.tr_n("{n} in", "{n} in", 2) == "2 entrées"
        assert i18n.tr_n("{n} in", "{n} in", 0) == "0 entrée"            # French: 0 and 1 are singular
        assert i18n.tr_n("{n} ticket found", "{n} tickets found", 1) == "1 billet trouvé"
    finally:
        i18n.set_language("en")
    assert i18n.tr_n("{n} ticket found", "{n} tickets found", 1) == "1 ticket found"
    assert i18n.tr_n("{n} ticket found", "{n} tickets found", 0) == "0 tickets found"


def test_placeholders_survive_translation():
    for msgid, msgstr in i18n.catalogue("fr").items():
        assert set(re.findall(r"{\w+}", msgid)) == set(re.findall(r"{\w+}", msgstr)), msgid


def test_device_language_and_switch():
    assert i18n.device_language({"LANG": "fr_FR.UTF-8"}) == "fr"
    assert i18n.device_language({"LC_ALL": "en_GB.UTF-8", "LANG": "fr_FR.UTF-8"}) == "en"
    assert i18n.device_language({"TICKETGATE_LANG": "fr"}) == "fr"
    seen = []
    i18n.on_change(seen.append)
    try:
        i18n.set_language("fr")
        assert i18n.tr("Scanned {s} · Accepted {a} · Inside {i}", s=1, a=2, i=3) == "Scannés 1 · Acceptés 2 · Présents 3"
        assert i18n.tr("a text nobody translated") == "a text nobody translated"
        with pytest.raises(ValueError):
            i18n.set_language("de")
    finally:
        i18n.set_language("en")
    assert seen == ["fr", "en"]


def test_po_parser_handles_multiline_and_escapes():
    po = 'msgid ""\nmsgstr "header"\n\nmsgid "a \\"b\\""\nmsgstr ""\n"c "\n"d"\n\nmsgid "untranslated"\nmsgstr ""\n'
    assert i18n.parse_po(po) == {'a "b"': "c d"}
    plural = 'msgid "{n} in"\nmsgid_plural "{n} in"\nmsgstr[0] "{n} entrée"\nmsgstr[1] "{n} entrées"\n'
    assert i18n.parse_po(plural) == {"{n} in\0{n} in": "{n} entrée\0{n} entrées"}


def test_staff_refusals_from_the_core_are_said_in_french():
    """Every StaffError / NotPermitted sentence raised in agent/staff*.py is matched and translated (not shown in
    English on a French screen): found in the core's source, so a new refusal without a translation fails here."""
    from kiosk_ui.presenters.staff import staff_message
    core = Path(__file__).resolve().parent.parent / "agent"
    raised = set()
    for path in core.glob("staff*.py"):
        for m in re.finditer(r"raise (?:StaffError|NotPermitted)\((f?)\"((?:[^\"\\]|\\.)*)\"", path.read_text()):
            if "bad " in m.group(2) or "staff row" in m.group(2) or "malformed" in m.group(2) or "idle timeout" in m.group(2):
                continue                       # a damaged bundle or a CLI option: not shown on the login screen
            text = m.group(2).replace("{left:.0f}", "42")
            raised.add(re.sub(r"\{[^}]*\}", "Léa Martin", text) if m.group(1) else text)
    raised.add("not allowed: Léa Martin (door) cannot refund")
    assert {"Léa Martin is deactivated", "unknown staff badge", "wrong PIN"} <= raised
    try:
        i18n.set_language("fr")
        for text in sorted(raised):
            said = staff_message(text)
            assert said != text, text                 # matched and translated
        assert staff_message("Léa Martin is deactivated") == "Léa Martin est désactivé(e) : adressez-vous à l'organisateur."
        assert staff_message("unknown staff badge") == "Badge du personnel inconnu."
    finally:
        i18n.set_language("en")
    assert staff_message("unknown staff badge") == "Unknown staff badge."


def test_enrollment_refusals_are_said_in_french():
    """Every refusal the Set-up screen can show after an enrollment attempt (provisioning's BadInput / EnrollError,
    the endpoint's answers, the adapter's own) is matched and translated: found in their source, so a new one
    without a translation fails here."""
    from kiosk_ui.presenters.enrollment import enrollment_message
    root = Path(__file__).resolve().parent.parent
    said_by: list[str] = []
    for rel, pattern in (("provisioning/protocol.py", r"raise BadInput\((f?)\"((?:[^\"\\]|\\.)*)\""),
                         ("provisioning/device/enroll.py", r"raise EnrollError\((f?)\"((?:[^\"\\]|\\.)*)\""),
                         ("kiosk_ui/adapters/enrollment.py", r"_set\(\"failed\", [0-9.]+, (f?)\"((?:[^\"\\]|\\.)*)\"")):
        for m in re.finditer(pattern, (root / rel).read_text()):
            if "Wi-Fi QR" in m.group(2):
                continue                       # the Wi-Fi QR is not read on the Set-up screen
            said_by.append(re.sub(r"\{[^}]*\}", "7", m.group(2)) if m.group(1) else m.group(2))
    for m in re.finditer(r"refuse\(source, (\d+), \"((?:[^\"\\]|\\.)*)\"",
                         (root / "provisioning/server/enrollment.py").read_text()):
        said_by.append(f"server refused ({m.group(1)}): {m.group(2)}")
    from provisioning.server.enrollment import SAID_OF_CODE, SAID_OF_QR
    said_by += [f"server refused (401): {text}" for text in (*SAID_OF_CODE.values(), *SAID_OF_QR.values())]
    said_by.append("server refused (401): this enrollment token was already used")     # a server before 2026-12
    assert "not a ticketgate enrollment QR (expected TGE1:...)" in said_by
    assert len(said_by) > 15
    try:
        i18n.set_language("fr")
        for text in said_by:
            assert enrollment_message(text) != text, text
        assert enrollment_message("server refused (401): this enrollment token was already used") == (
            "Ce code d'inscription a déjà servi : demandez-en un nouveau à l'organisateur.")
        assert enrollment_message("server refused (401): " + SAID_OF_CODE["used"]) == (
            "Ce code organisateur a déjà servi : prenez le suivant sur la feuille.")
        assert enrollment_message("looking for the organiser's server on this network") == ""
    finally:
        i18n.set_language("en")
    assert enrollment_message("cannot reach the server at http://10.0.0.2:8443: timed out") == (
        "Cannot reach the organiser's server at http://10.0.0.2:8443 (timed out): check the Wi-Fi.")
