"""From scanned text to a verified ticket, or the reason it is not one. Never raises.

Dispatch by shape: `TG1:` is ours, `TG2:` a kiosk's offline sale (agent.allotment); anything else is tried as a pretix_sig1 secret.
`plausible(text)`: the same parsing without keys or signatures (the camera's retry steps keep only such texts).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from agent import pretix_sig1
from agent.allotment import SCHEME as TG2_SCHEME
from agent.allotment import AllotmentProof, parse_offline_ticket, verify_offline_ticket
from agent.keyring import Keyring
from agent.scanned_text import unframed
from agent.staff import StaffError, badge_parts, is_badge
from agent.ticket_format import MAX_TEXT_LENGTH, SCHEME, MalformedPayload, Ticket, parse_payload

log = logging.getLogger("ticketgate.payload")
OK, MALFORMED, UNKNOWN_KEY, FORGED = "ok", "malformed", "unknown_key", "forged"
# a ticket read on a device that trusts no key at all (never enrolled, or given no keys): not "an unknown issuer",
# nothing at all can be checked yet; the words name what to do (agent.cli_words, kiosk_ui.presenters.verdict)
NO_KEYS = ("this device trusts no ticket keys yet, so no ticket can be checked: enrol it with the code from the "
           "organiser's enrolment sheet (`ticketgate provision enroll --code CODE --server HOST:PORT`), then sync")


@dataclass(frozen=True)
class Decoded:
    status: str                     # ok | malformed | unknown_key | forged
    ticket: Ticket | None = None
    detail: str = ""
    allotment: AllotmentProof | None = None     # a TG2 ticket sold offline by a kiosk: its certificate, checked
    no_keys: bool = False           # the device trusts no key at all: `detail` is NO_KEYS


def _as_text(raw: str | bytes) -> str:
    if not isinstance(raw, (str, bytes)):
        raise MalformedPayload(f"not text ({type(raw).__name__})")
    if isinstance(raw, bytes):
        if len(raw) > MAX_TEXT_LENGTH * 4:
            raise MalformedPayload("payload too long")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPayload("payload is not UTF-8") from None
    if len(raw) > MAX_TEXT_LENGTH * 4:
        raise MalformedPayload("payload too long")
    text = unframed(raw)          # CR/LF, padding, the AIM identifier `]Q1`, ECI designators (scanned_text)
    if len(text) > MAX_TEXT_LENGTH:
        raise MalformedPayload("payload too long")
    return text


_OUR_SCHEMES = (SCHEME, TG2_SCHEME)
# the detail of a ticketgate code read in lower case: the door app says what to do about it
LOWER_CASE = "lower-case letters in a ticketgate code (a keyboard-wedge scanner with Caps Lock or case conversion on?)"


def _scheme(text: str) -> str:
    """TG1:, TG2: or "" (tried as a pretix_sig1 secret). Raises MalformedPayload."""
    if text.startswith(_OUR_SCHEMES):
        return text[:4]
    if text[:4].upper() in _OUR_SCHEMES:
        raise MalformedPayload(LOWER_CASE)
    return ""


def plausible(raw: str | bytes) -> bool:
    """Whether a scanned text has the shape of a code the door reads: a ticket of a format this device accepts
    (TG1, TG2, pretix_sig1), parsed as `read_payload` parses it, or a staff badge (`staff.badge_parts`); no key, no
    signature checked (microseconds). The camera's retry steps drop a text that is not and go on (drivers.camera.chain,
    `DecoderChain.plausible`): a filtered image misread as another text would show a red verdict for a valid ticket."""
    try:
        text = _as_text(raw)
        if is_badge(text):
            badge_parts(text)
        else:
            _PARSERS[_scheme(text)](text)
        return True
    except (MalformedPayload, StaffError):
        return False
    except Exception:   # a parser's bug: read_payload would judge the text malformed too (and log it)
        return False


def read_payload(raw: str | bytes, keyring: Keyring, now: float) -> Decoded:
    decoded = _read(raw, keyring, now)
    if decoded.status != MALFORMED and not keyring.keys and not keyring.pretix:
        return Decoded(UNKNOWN_KEY, decoded.ticket, NO_KEYS, no_keys=True)
    return decoded


def _read(raw: str | bytes, keyring: Keyring, now: float) -> Decoded:
    try:
        text = _as_text(raw)
        scheme = _scheme(text)
        if scheme == SCHEME:
            return _read_tg1(text, keyring, now)
        if scheme == TG2_SCHEME:
            return _read_tg2(text, keyring, now)
        return _read_pretix(text, keyring)
    except MalformedPayload as exc:
        return Decoded(MALFORMED, detail=str(exc))
    except Exception as exc:  # a bug in a reader: the door carries on (refused), the traceback goes to the log
        log.exception("payload reader failed on a %s payload", type(raw).__name__)
        return Decoded(MALFORMED, detail=f"unreadable payload ({type(exc).__name__})")


def _read_tg1(text: str, keyring: Keyring, now: float) -> Decoded:
    parsed = parse_payload(text)
    ticket = parsed.ticket
    key = keyring.get(ticket.key_id)
    if key is None:
        return Decoded(UNKNOWN_KEY, ticket, f"key {ticket.key_id} is not in this device's keyring")
    if not key.active_at(now):
        return Decoded(UNKNOWN_KEY, ticket, f"key {ticket.key_id} is outside its validity window")
    if not key.verifies(parsed.signature, parsed.signed):
        return Decoded(FORGED, ticket, "signature does not verify")
    if key.events is not None and ticket.event_id not in key.events:
        return Decoded(FORGED, ticket, f"key {ticket.key_id} may not sign for event {ticket.event_id}")
    return Decoded(OK, ticket)


def _read_tg2(text: str, keyring: Keyring, now: float) -> Decoded:
    """A ticket a kiosk sold offline: the device signature must verify (else forged); whether its certificate is
    trusted, current, not revoked and covers the ticket is the decision's `check_allotment`."""
    parsed = parse_offline_ticket(text)
    signed_ok, proof = verify_offline_ticket(parsed, keyring, now)
    if not signed_ok:
        return Decoded(FORGED, parsed.ticket, proof.detail)
    return Decoded(OK, parsed.ticket, allotment=proof)


def _parse_pretix(text: str) -> tuple[bytes, bytes, pretix_sig1.PretixTicket]:
    payload, signature = pretix_sig1.split_secret(text)
    return payload, signature, pretix_sig1.decode_ticket_message(payload)


_PARSERS: dict[str, Callable[[str], object]] = {SCHEME: parse_payload, TG2_SCHEME: parse_offline_ticket,
                                                "": _parse_pretix}


def _read_pretix(text: str, keyring: Keyring) -> Decoded:
    payload, signature, message = _parse_pretix(text)
    if not keyring.pretix:
        return Decoded(UNKNOWN_KEY, detail="no pretix event keys loaded on this device")
    event = pretix_sig1.find_signer(payload, signature, keyring)
    if event is None:
        return Decoded(FORGED, detail="pretix signature does not verify with any loaded event key")
    return Decoded(OK, pretix_sig1.to_ticket(message, event))
