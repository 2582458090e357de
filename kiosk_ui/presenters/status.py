"""The scan screen's status strip: counters, online/offline badge with queue, the mode and its warning."""
from __future__ import annotations

from dataclasses import dataclass

from agent.policy import MODE_WORDS, Mode
from kiosk_ui.i18n import tr
from kiosk_ui.presenters.colours import GREEN, NEUTRAL, ORANGE, PURPLE, RED
from kiosk_ui.services import SyncStatus

MODES = (Mode.NORMAL, Mode.ENTRY_EXIT, Mode.MULTIPLE, Mode.QUICK_CANCEL)
_MODE_LABELS = MODE_WORDS                # one table with `agent status`


# what the mode popup offers: (mode, fixed direction); quick cancellation last (purple)
MODE_CHOICES = ((Mode.NORMAL, None), (Mode.ENTRY_EXIT, None), (Mode.ENTRY_EXIT, "in"), (Mode.ENTRY_EXIT, "out"),
                (Mode.MULTIPLE, None), (Mode.QUICK_CANCEL, None))
_DIRECTIONS = {"in": "Entry / exit: entries only", "out": "Entry / exit: exits only"}


def mode_label(mode: Mode, direction: str | None = None) -> str:
    if Mode(mode) is Mode.ENTRY_EXIT and direction in _DIRECTIONS:
        return tr(_DIRECTIONS[direction])
    return tr(_MODE_LABELS[Mode(mode)])


@dataclass(frozen=True)
class StatusView:
    counters: str
    badge: str
    badge_colour: tuple
    mode: str
    warning: str            # non-empty in quick cancellation: shown as a banner over the whole screen
    idle_colour: tuple      # background while waiting for a ticket


def status_view(scanned: int, accepted: int, inside: int, sync: SyncStatus, mode: Mode,
                direction: str | None = None, back_on_sale: int = 0) -> StatusView:
    """`back_on_sale`: in quick cancellation the strip counts the tickets put back on sale, not admissions."""
    counters = (tr("Scanned {s} · Back on sale {c}", s=scanned, c=back_on_sale) if Mode(mode) is Mode.QUICK_CANCEL
                else tr("Scanned {s} · Accepted {a} · Inside {i}", s=scanned, a=accepted, i=inside))
    if not sync.available:
        badge, colour = tr("No sync on this build · queue {n}", n=sync.queue), NEUTRAL
    elif sync.online:
        badge, colour = tr("Online · queue {n}", n=sync.queue), GREEN
    else:
        badge, colour = tr("OFFLINE · queue {n}", n=sync.queue), ORANGE if sync.queue < 500 else RED
    warning = ""
    idle = NEUTRAL
    if Mode(mode) is Mode.QUICK_CANCEL:
        warning = tr("QUICK CANCELLATION: scanned tickets go back on sale. NOT FOR THE DOOR!")
        idle = PURPLE
    return StatusView(counters, badge, colour, mode_label(mode, direction), warning, idle)
