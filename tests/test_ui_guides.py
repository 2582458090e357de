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
