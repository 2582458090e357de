"""Which scanner this device uses ("laser mode"), stored in the ledger's settings. Pure choice + small factory."""
from __future__ import annotations

from dataclasses import asdict, dataclass

MODES = ("camera", "zebra", "bluebird", "keyboard")
SETTING_KEY = "scanner"


@dataclass(frozen=True)
class ScannerSettings:
    mode: str = "camera"                  # camera | zebra | bluebird | keyboard
    camera_device: int | str = 0
    torch: bool = False
    inter_key_timeout: float = 0.06       # keyboard wedge
    evdev_path: str = ""                  # keyboard wedge from an input device (Linux), else the UI's key events
    serial_port: str = ""                 # serial scanner (Linux)
    datawedge_action: str = "ch.ticketgate.SCAN"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown scanner mode {self.mode!r}; one of {', '.join(MODES)}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict | None) -> "ScannerSettings":
        known = {k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except (TypeError, ValueError):
            return cls()                  # a bad stored value falls back to the camera, never blocks the door


def load(ledger) -> ScannerSettings:
    return ScannerSettings.from_json(ledger.get_setting(SETTING_KEY))


def save(ledger, settings: ScannerSettings) -> None:
    ledger.set_setting(SETTING_KEY, settings.to_json())


def receiver_actions(settings: ScannerSettings) -> tuple[str, ...]:
    """The broadcast actions the Android receiver listens to in this mode (none for camera/keyboard): Zebra's scans
    and DataWedge's answer to our SET_CONFIG; Bluebird's scans and its request results."""
    from drivers.scanners import bluebird, datawedge
    if settings.mode == "zebra":
        return (settings.datawedge_action, datawedge.RESULT_ACTION)
    if settings.mode == "bluebird":
        return bluebird.RECEIVE_ACTIONS
    return ()
