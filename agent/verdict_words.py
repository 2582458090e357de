"""What a verdict is called, in English and French: the app's big title, the lines of `ticketgate agent scan`
and of `ticketgate demo`, including the re-read (ALREADY READ — 2 s ago) and quick cancellation (CANCELLED — BACK
ON SALE) screens.

One definition, so the door screen, the terminal door, the organiser's demo and the guides use the same words
("TICKET CANCELLED", "BILLET ANNULÉ"). Pure; no Kivy, no gettext (the CLI and the demo never import the app).
"""
from __future__ import annotations

from agent.policy import Mode
from agent.verdicts import Code, Reason, Verdict

LANGUAGES = ("en", "fr")

TITLES: dict[Code, tuple[str, str]] = {                     # (English, French)
    Code.ALREADY_USED: ("ALREADY USED", "DÉJÀ UTILISÉ"),
    Code.WRONG_EVENT: ("WRONG EVENT", "MAUVAIS ÉVÉNEMENT"),
    Code.WRONG_ZONE: ("WRONG ZONE", "MAUVAISE ZONE"),
    Code.UNKNOWN_PRODUCT: ("UNKNOWN PRODUCT", "PRODUIT INCONNU"),
    Code.NOT_YET_VALID: ("NOT VALID YET", "PAS ENCORE VALABLE"),
    Code.EXPIRED: ("EXPIRED", "EXPIRÉ"),
    Code.REVOKED: ("TICKET CANCELLED", "BILLET ANNULÉ"),
    Code.BLOCKED: ("BLOCKED", "BLOQUÉ"),
    Code.UNPAID: ("PAYMENT PENDING", "PAIEMENT EN ATTENTE"),
    Code.CANCELLED: ("CANCELLED FOR RESALE", "BILLET ANNULÉ (REVENTE)"),
    Code.FORGED: ("FAKE TICKET", "FAUX BILLET"),
    Code.UNCERTIFIED: ("SALE NOT CERTIFIED", "VENTE NON CERTIFIÉE"),
    Code.UNKNOWN_KEY: ("UNKNOWN ISSUER", "ÉMETTEUR INCONNU"),
    Code.MALFORMED: ("NOT A TICKET", "PAS UN BILLET"),
}
UNTRUSTED = frozenset({Code.FORGED, Code.UNKNOWN_KEY, Code.MALFORMED})  # content not vouched for: shown nowhere
ENTRY = ("ACCEPTED — IN", "ACCEPTÉ — ENTRÉE")
EXIT = ("EXIT — OK", "SORTIE — OK")
REREAD = ("ALREADY READ — {n} s ago", "DÉJÀ LU — il y a {n} s")      # an admitted ticket read again: never a new entry
BACK_ON_SALE = ("CANCELLED — BACK ON SALE", "ANNULÉ — REMIS EN VENTE")  # quick cancellation put it back on sale
ON_DUTY = ("ON DUTY", "EN SERVICE")                      # a staff badge scanned: its holder is on duty
NO_KEYS = ("NO TICKET KEYS", "AUCUNE CLÉ DE BILLET")      # a ticket read on a device that trusts no key yet
LOG_IN_FIRST = ("LOG IN FIRST", "CONNECTEZ-VOUS D'ABORD")  # a ticket scanned with nobody (allowed) on duty: not judged


def pick(pair: tuple[str, str], lang: str) -> str:
    """One of this module's (English, French) words in `lang`."""
    return pair[1] if lang == "fr" else pair[0]


def verdict_title(verdict: Verdict, lang: str = "en") -> str:
    """The big word of a verdict: ACCEPTED — IN, EXIT — OK, or the refusal's title."""
    if verdict.accepted:
        return pick(EXIT if verdict.direction == "out" else ENTRY, lang)
    if verdict.reason is Reason.NO_KEYS:
        return pick(NO_KEYS, lang)
    return code_title(verdict.code, lang)


def screen_title(verdict: Verdict, mode: Mode = Mode.NORMAL, lang: str = "en") -> str:
    """The title the door shows for a scan in this mode: ALREADY READ — 2 s ago for an admitted ticket read again
    within the re-read window, CANCELLED — BACK ON SALE in quick cancellation, else `verdict_title`."""
    if verdict.reason is Reason.REREAD and verdict.accepted:
        return pick(REREAD, lang).format(n=max(0, round(verdict.since_read or 0)))
    if mode is Mode.QUICK_CANCEL and verdict.code is Code.CANCELLED:
        return pick(BACK_ON_SALE, lang)
    return verdict_title(verdict, lang)


def code_title(code: Code, lang: str = "en") -> str:
    return pick(TITLES[code], lang)
