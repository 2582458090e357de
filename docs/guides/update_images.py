"""Copy the screenshots the rendering tests produced into the guides (run after the UI tests):

    .venv/bin/python -m pytest tests/test_ui_render.py tests/test_desk_render.py
    .venv/bin/python docs/guides/update_images.py

Images are reduced to half size and a 64-colour palette (sharp text, small repository).
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test-artifacts" / "ui"
TARGET = Path(__file__).resolve().parent / "img"
IMAGES = ("scan_ready", "scan_valid", "scan_repeat", "scan_vip", "scan_used", "scan_forged", "scan_wrong_zone",
          "scan_wrong_event", "scan_unpaid",
          "quick_cancel_ready", "quick_cancel_scan", "exit", "search", "manual_checkin", "undo_popup", "pin_popup",
          "mode_popup", "kiosk_order", "kiosk_printers", "kiosk_checklist", "kiosk_printer_off", "kiosk_print_queue", "events",
          "setup",
          "setup_printers", "add_printer_popup", "sync", "stats", "menu")
DESK = ROOT / "test-artifacts" / "desk"          # tests/test_desk_render.py, the 5" handheld in each language
DESK_IMAGES = ("desk_cart", "desk_payment", "desk_sold", "desk_sold_offline", "desk_refund", "desk_refunded")


def main() -> int:
    copied = 0
    for lang, folder in (("en", SOURCE), ("fr", SOURCE / "fr")):
        (TARGET / lang).mkdir(parents=True, exist_ok=True)
        for src in [folder / f"{name}.png" for name in IMAGES] + [DESK / f"{lang}-5in" / f"{n}.png" for n in DESK_IMAGES]:
            name = src.stem
            if not src.exists():
                print(f"missing {src}: run tests/test_ui_render.py and tests/test_desk_render.py first", file=sys.stderr)
                return 1
            img = Image.open(src).convert("RGB")
            img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS).quantize(64)
            img.save(TARGET / lang / f"{name}.png", optimize=True)
            copied += 1
    landscape = SOURCE / "landscape_valid.png"
    if landscape.exists():
        img = Image.open(landscape).convert("RGB")
        img.resize((img.width // 2, img.height // 2), Image.LANCZOS).quantize(64).save(TARGET / "landscape_valid.png",
                                                                                       optimize=True)
    print(f"{copied} screenshots copied into {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
