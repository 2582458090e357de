"""The user guides: one per role in French and English, every picture they show exists."""
from __future__ import annotations

import re
from pathlib import Path

GUIDES = Path(__file__).resolve().parent.parent / "docs" / "guides"
ROLES = {"en": ("door-staff", "kiosk-operator", "technician", "organiser"),
         "fr": ("personnel-controle", "guichet", "technicien", "organisateur")}


def test_each_role_has_a_guide_in_both_languages():
    for lang, names in ROLES.items():
        for name in names:
            text = (GUIDES / lang / f"{name}.md").read_text()
            assert text.startswith("# ") and len(text) > 800
            assert f"{name}.md" in (GUIDES / "README.md").read_text()


def test_every_picture_exists_and_matches_the_language():
    for page in GUIDES.glob("*/*.md"):
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text())
        assert links, page
        for link in links:
            assert (page.parent / link).is_file(), f"{page.name}: {link}"
            lang = page.parent.name
            assert f"/img/{lang}/" in link or link.endswith("landscape_valid.png"), f"{page.name}: {link}"


def test_the_door_staff_guide_explains_every_title_the_scan_screen_shows():
    """Every big word a door device can show (the verdicts' titles, the re-read, quick cancellation and staff
    screens) is explained in the door staff's guide of its language, as the app writes it. Before: EXIT — OK,
    CANCELLED FOR RESALE (a ticket the box office put back on sale, scanned at a gate), BLOCKED, UNKNOWN PRODUCT,
    SALE NOT CERTIFIED and the purple CANCELLED — BACK ON SALE were in neither guide."""
    from agent import verdict_words as words
    from kiosk_ui import i18n
    try:
        for lang, page in (("en", "door-staff"), ("fr", "personnel-controle")):
            i18n.set_language(lang)
            guide = (GUIDES / lang / f"{page}.md").read_text()
            pick = 1 if lang == "fr" else 0
            titles = [words.code_title(code, lang) for code in words.TITLES] + [words.ENTRY[pick], words.EXIT[pick]]
            titles += [words.REREAD[pick].format(n=2), words.BACK_ON_SALE[pick],
                       words.ON_DUTY[pick], words.LOG_IN_FIRST[pick]]
            bold = re.findall(r"\*\*(.+?)\*\*", guide)
            missing = [title for title in titles if not any(title in span for span in bold)]
            assert not missing, f"{page}.md does not explain {missing}"
    finally:
        i18n.set_language("en")
