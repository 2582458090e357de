"""What a verdict is called, in English and French: the app's big title, the lines of `ticketgate agent scan`
and of `ticketgate demo`.

One definition, so the door screen, the terminal door, the organiser's demo and the guides use the same words
("TICKET CANCELLED", "BILLET ANNULÉ"). Pure; no Kivy, no gettext (the CLI and the demo never import the app).
"""
from __future__ import annotations

from agent.verdicts import Code, Verdict

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
ENTRY = ("ACCEPTED — IN", "ACCEPTÉ — ENTRÉE")
EXIT = ("EXIT — OK", "SORTIE — OK")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "fr" else pair[0]


def verdict_title(verdict: Verdict, lang: str = "en") -> str:
    """The big word of a verdict: ACCEPTED — IN, EXIT — OK, or the refusal's title."""
    if verdict.accepted:
        return _pick(EXIT if verdict.direction == "out" else ENTRY, lang)
    return code_title(verdict.code, lang)


def code_title(code: Code, lang: str = "en") -> str:
    return _pick(TITLES[code], lang)
