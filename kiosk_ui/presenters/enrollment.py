"""Why enrollment failed, for the technician on the Set-up screen, in the app's language.

provisioning's refusals (BadInput, EnrollError, the enrollment endpoint's answers) and the adapter's own progress
messages are English sentences; each one the screen can show is matched here and said with tr() (tests/test_ui_i18n.py
checks that every one raised in provisioning/ is matched). An unknown one is shown as it is."""
from __future__ import annotations

import re
from typing import Any

from kiosk_ui.i18n import tr

_REFUSED = r"server refused \((?P<code>\d+)\): "
_MESSAGES: tuple[tuple[str, Any], ...] = (
    (r"looking for the organiser's server on this network", lambda: ""),    # the step's title says it already
    (r"no server of this organiser code found on this network: check the code and the Wi-Fi, or scan the QR",
     lambda: tr("No server of this organiser code on this network: check the code and the Wi-Fi, or scan its QR.")),
    (r"not a ticketgate enrollment QR \(expected TGE1:\.\.\.\)",
     lambda: tr("This is not an enrollment QR: scan the QR of the organiser's enrollment sheet.")),
    (r"enrollment QR: malformed .+",
     lambda: tr("This enrollment QR is damaged: scan it again, or type the organiser code.")),
    (r"an organiser code is (?P<n>\d+) characters like (?P<example>\S+)",
     lambda n, example: tr("An organiser code is {n} characters like {example}.", n=n, example=example)),
    (r"cannot reach the server at (?P<where>\S+): (?P<why>.+)",
     lambda where, why: tr("Cannot reach the organiser's server at {where} ({why}): check the Wi-Fi.",
                           where=where, why=why)),
    (_REFUSED + r"this organiser code was already used .*",
     lambda code: tr("This organiser code was already used: take the next one on the sheet.")),
    (_REFUSED + r"this enrollment QR was already used .*",
     lambda code: tr("This enrollment QR was already used: scan the next one on the sheet.")),
    (_REFUSED + r"this organiser code has expired: .*",
     lambda code: tr("This organiser code has expired: ask the organiser for a new sheet.")),
    (_REFUSED + r"this enrollment QR has expired: .*",
     lambda code: tr("This enrollment QR has expired: ask the organiser for a new sheet.")),
    (_REFUSED + r"unknown organiser code: .*",
     lambda code: tr("Unknown organiser code: check it against the sheet, or scan its QR.")),
    (_REFUSED + r"unknown enrollment QR: .*",
     lambda code: tr("This enrollment QR is not one of this organiser's: ask the organiser for a new sheet.")),
    # the words of servers before 2026-12 (one word, 'token', for the QR and the code)
    (_REFUSED + r"this enrollment token was already used",
     lambda code: tr("This enrollment code was already used: ask the organiser for a new one.")),
    (_REFUSED + r"this enrollment token has expired",
     lambda code: tr("This enrollment code has expired: ask the organiser for a new one.")),
    (_REFUSED + r"unknown enrollment token",
     lambda code: tr("Unknown enrollment code: check it, or ask the organiser for a new one.")),
    (r"already enrolled \((?P<device>[^)]*)\), by another enrollment meanwhile; .*",
     lambda device: tr("Already enrolled ({device}) by another enrollment meanwhile: nothing was sent, the code is not used.",
                       device=device)),
    (r"another enrollment of this device is under way .*",
     lambda: tr("Another enrollment of this device is under way: wait for it to end. Nothing was sent, the code is not used.")),
    (r"server refused \(429\): .*", lambda: tr("Too many attempts from this device: wait a minute, then try again.")),
    (_REFUSED + r"(?P<detail>.*)",
     lambda code, detail: tr("The organiser's server refused ({code}): {detail}", code=code, detail=detail)),
    (r"the server's key does not match the organiser fingerprint of the QR: refused",
     lambda: tr("The server's key does not match the organiser's QR: refused. Is this the organiser's network?")),
    # refused before anything was sent: another key, an enrollment key it did not sign, none (a rogue, an old server)
    (r"the server's key does not match the organiser fingerprint.*|the server's enrollment key is .*"
     r"|this server offers no key to seal the enrollment.*",
     lambda: tr("The server's key is not the organiser's: nothing was sent. Is this the organiser's network?")),
    (r"the server sent no challenge|the answer carries no valid server key|the answer is not validly signed .+"
     r"|malformed enrollment answer .+|the server answered something that is not JSON",
     lambda: tr("The server's answer is not a valid enrollment: refused. Check the server address with the organiser.")),
    (r"internal error \((?P<kind>\w+)\); see the log",
     lambda kind: tr("Internal error ({kind}): see the log.", kind=kind)),
)


def enrollment_message(text: str) -> str:
    """A progress or failure message of enrollment in the app's language; an unknown one as it is."""
    for pattern, say in _MESSAGES:
        m = re.fullmatch(pattern, text, re.DOTALL)
        if m:
            return say(**m.groupdict())
    return text
