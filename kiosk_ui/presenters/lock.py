"""Kiosk lock: a PIN protects settings, event selection and mode switch. Pure; the store is injected."""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol

MAX_ATTEMPTS = 5
LOCKOUT_SECONDS = 60.0
RELOCK_SECONDS = 120.0


class SettingsStore(Protocol):
    def get_setting(self, key: str, default: Any = None) -> Any: ...
    def set_setting(self, key: str, value: Any) -> None: ...


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, 100_000).hex()


class StaffLogin(Protocol):
    """agent.staff_session.OnDuty as the lock sees it: once the organiser keeps staff, a supervisor login replaces
    the device's own PIN (the roster drops the old setting: agent.staff_session.store_roster)."""
    @property
    def configured(self) -> bool: ...
    def current(self) -> Any: ...
    def unlock_supervisor(self, pin: str) -> str: ...


@dataclass
class KioskLock:
    store: SettingsStore
    clock: Callable[[], float]
    _unlocked_until: float = 0.0
    _failures: int = 0
    _locked_out_until: float = 0.0
    staff: StaffLogin | None = None

    @property
    def _staffed(self) -> bool:
        return self.staff is not None and self.staff.configured

    @property
    def has_pin(self) -> bool:
        return self._staffed or bool(self.store.get_setting("ui_pin"))

    def set_pin(self, pin: str) -> None:
        if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("the PIN is 4 to 8 digits")
        if self.has_pin and not self.unlocked:
            raise PermissionError("unlock with the current PIN first")
        salt = os.urandom(16)
        self.store.set_setting("ui_pin", {"salt": salt.hex(), "hash": _hash(pin, salt)})

    @property
    def unlocked(self) -> bool:
        if self.staff is not None and self._staffed:
            on_duty = self.staff.current()
            return on_duty is not None and on_duty.role == "supervisor"
        return not self.has_pin or self.clock() < self._unlocked_until

    def unlock(self, pin: str) -> str:
        """-> "ok" | "wrong" | "locked_out" (too many wrong PINs: wait a minute)."""
        if self.staff is not None and self._staffed:
            return self.staff.unlock_supervisor(pin)
        now = self.clock()
        if now < self._locked_out_until:
            return "locked_out"
        stored = self.store.get_setting("ui_pin")
        if not stored:
            return "ok"
        if hmac.compare_digest(_hash(pin, bytes.fromhex(stored["salt"])), stored["hash"]):
            self._failures, self._unlocked_until = 0, now + RELOCK_SECONDS
            return "ok"
        self._failures += 1
        if self._failures >= MAX_ATTEMPTS:
            self._failures, self._locked_out_until = 0, now + LOCKOUT_SECONDS
            return "locked_out"
        return "wrong"

    def lock(self) -> None:
        self._unlocked_until = 0.0
