"""Where the kiosk finds the signed QR payload of a ticket it prints (a device cannot sign tickets itself).

The ledger keeps no payloads; a kiosk device gets them as a JSON file `kiosk-payloads.json`
({ticket_key: "TG1:…"}) in its agent folder — written by the demo seeding today, and meant to come with the
kiosk's event bundle. A ticket without a payload is refused with a plain message, never printed without its QR.
"""
from __future__ import annotations

import json
from pathlib import Path

FILE_NAME = "kiosk-payloads.json"


class FilePayloads:
    def __init__(self, home: str | Path):
        self.path = Path(home) / FILE_NAME
        self._cache: dict[str, str] | None = None
        self._mtime = None

    def payload(self, ticket_key: str) -> str | None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return None
        if self._cache is None or mtime != self._mtime:
            try:
                data = json.loads(self.path.read_text())
                self._cache = {str(k): v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._cache = {}
            self._mtime = mtime
        return self._cache.get(str(ticket_key))

    def add(self, payloads: dict[str, str]) -> None:
        current = {}
        if self.path.exists():
            try:
                current = json.loads(self.path.read_text())
            except ValueError:
                current = {}
        current.update(payloads)
        self.path.write_text(json.dumps(current))
        self._cache = None
