"""The words and dates on what is printed (tickets, badges, e-tickets) and on printer messages, in English or French.

Pure and dependency-free, so the app, the drivers and the server's e-tickets share one definition:

    say("fr", "Seat")                                   -> "Place"
    when(1796468400, 1796479200, "America/Montreal", "fr") -> "sam. 5 déc. 2026, 06:00–09:00 EST"

Times are always shown in the event's own time zone (zoneinfo, with its abbreviation), never in UTC.
Printer messages are English templates (`{name}` placeholders); `say` translates the template and any argument
that is itself a known phrase (a status such as "out of paper: load a new roll").
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.safe_text import printable

LANGUAGES = ("en", "fr")

_DAYS = {"en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
         "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")}
_MONTHS = {"en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
           "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")}

FR: dict[str, str] = {
    # printed on tickets, badges and e-tickets
    "Category": "Catégorie", "Zone": "Zone", "Seat": "Place", "Order": "Commande", "Name": "Nom", "Price": "Prix",
    "Ticket": "Billet", "REPRINT": "DUPLICATA", "PAYMENT PENDING": "PAIEMENT EN ATTENTE", "Admission": "Entrée",
    "All zones": "Toutes zones", "Pass": "Pass", "Event {n}": "Événement {n}",
    "Show this code at the entrance, on screen or printed. It is valid once; do not share it.":
        "Présentez ce code à l'entrée, sur écran ou imprimé. Il n'est valable qu'une fois : ne le partagez pas.",
    # printer states (drivers.printers.status)
    "ready": "prête", "ready, paper running low": "prête, bientôt plus de papier",
    "out of paper: load a new roll": "plus de papier : mettez un nouveau rouleau",
    "cover open: close the printer cover": "capot ouvert : fermez le capot de l'imprimante",
    "printer error (cutter jam or overheating): open, clear, close the cover":
        "erreur de l'imprimante (massicot bloqué ou surchauffe) : ouvrez, dégagez, refermez le capot",
    "printer is offline (feed button held, or paper being fed)":
        "imprimante hors ligne (bouton d'avance maintenu, ou papier en cours d'avance)",
    "printer did not answer the status query (offline, or not an ESC/POS printer)":
        "l'imprimante n'a pas répondu à la demande d'état (éteinte, ou pas une imprimante ESC/POS)",
    "printer did not answer the status query (offline, or not a ZPL printer)":
        "l'imprimante n'a pas répondu à la demande d'état (éteinte, ou pas une imprimante ZPL)",
    "unexpected ZPL status reply": "réponse d'état ZPL inattendue",
    "out of labels: load the label roll": "plus d'étiquettes : mettez le rouleau d'étiquettes",
    "print head open: close the head": "tête d'impression ouverte : fermez la tête",
    "ribbon out: load a ribbon": "plus de ruban : mettez un ruban",
    "printer is paused: press the pause button": "imprimante en pause : appuyez sur le bouton pause",
    # results (drivers.printers.transport, ipp, escpos_devices, service, queue)
    "printed": "imprimé", "printed (paper running low)": "imprimé (bientôt plus de papier)",
    "sent (printer status not checked)": "envoyé (état de l'imprimante non vérifié)",
    "printer {name} refused the connection: is it on, and is this the right address? Not printed.":
        "l'imprimante {name} a refusé la connexion : est-elle allumée, et est-ce la bonne adresse ? Non imprimé.",
    "printer {name} did not answer (offline, or on another network). Not printed.":
        "l'imprimante {name} ne répond pas (éteinte, ou sur un autre réseau). Non imprimé.",
    "printer {name} unreachable ({why}). Not printed.": "imprimante {name} injoignable ({why}). Non imprimé.",
    "printer {name}: {status}. Not printed.": "imprimante {name} : {status}. Non imprimé.",
    "printer {name} stopped reading mid-job ({sent} of {total} bytes sent). Not printed: check the printer, then "
    "print again.": "l'imprimante {name} a cessé de lire en cours de travail ({sent} octets envoyés sur {total}). "
                    "Non imprimé : vérifiez l'imprimante, puis imprimez à nouveau.",
    "printer {name} after the job: {status}. The ticket may not have printed: check it and print again.":
        "imprimante {name} après le travail : {status}. Le billet n'est peut-être pas sorti : vérifiez-le et "
        "imprimez à nouveau.",
    "printer {name} closed the connection mid-job ({why}). Not printed.":
        "l'imprimante {name} a fermé la connexion en cours de travail ({why}). Non imprimé.",
    "printer {name}: {why}. Not printed.": "imprimante {name} : {why}. Non imprimé.",
    "printer {name} cannot be opened ({why}). Not printed.": "l'imprimante {name} ne s'ouvre pas ({why}). Non imprimé.",
    "printer {name} failed mid-job ({why}). Not printed.": "l'imprimante {name} a échoué en cours de travail ({why}). "
                                                           "Non imprimé.",
    "printing failed ({why}). Not printed.": "échec de l'impression ({why}). Non imprimé.",
    "unknown ZPL format {fmt}. Not printed.": "format ZPL inconnu {fmt}. Non imprimé.",
    "IPP printer {name} refused the connection (off, or wrong address). Not printed.":
        "l'imprimante IPP {name} a refusé la connexion (éteinte, ou mauvaise adresse). Non imprimé.",
    "IPP printer {name} unreachable ({why}). Not printed.": "imprimante IPP {name} injoignable ({why}). Non imprimé.",
    "IPP printer {name} answered HTTP {status}. Not printed.": "l'imprimante IPP {name} a répondu HTTP {status}. "
                                                               "Non imprimé.",
    "IPP printer {name} sent an unreadable answer. Not printed.": "l'imprimante IPP {name} a envoyé une réponse "
                                                                  "illisible. Non imprimé.",
    "IPP printer {name} took the job but did not answer ({why}). The badge may have printed: check it, then print "
    "again.": "l'imprimante IPP {name} a reçu le travail mais n'a pas répondu ({why}). Le badge est peut-être "
              "imprimé : vérifiez, puis imprimez à nouveau.",
    "IPP printer {name} refused the job: {why}. Not printed.": "l'imprimante IPP {name} a refusé le travail : {why}. "
                                                               "Non imprimé.",
    "queued as job {job}": "en file d'attente, travail {job}",
    "CUPS is not installed here ('lp' not found): save the badge or use an IPP address. Not printed.":
        "CUPS n'est pas installé ici ('lp' introuvable) : enregistrez le badge ou utilisez une adresse IPP. Non imprimé.",
    "CUPS did not answer within {seconds} s. Not printed.": "CUPS n'a pas répondu en {seconds} s. Non imprimé.",
    "CUPS refused the job: {why}. Not printed.": "CUPS a refusé le travail : {why}. Non imprimé.",
    "cannot save {file} in {folder}: {why}. Not saved.": "impossible d'enregistrer {file} dans {folder} : {why}. "
                                                         "Non enregistré.",
    "saved {file}": "enregistré : {file}",
    "not printed: the app stopped before sending it to the printer.":
        "non imprimé : l'application s'est arrêtée avant de l'envoyer à l'imprimante.",
    "the app stopped while sending it to the printer: it may have come out. Printed again, it is a copy.":
        "l'application s'est arrêtée pendant l'envoi à l'imprimante : il est peut-être sorti. Réimprimé, c'est un "
        "duplicata.",
    "not printed: the server sold it while the app was stopped (restarted mid-sale). Print it, or drop it if the "
    "buyer is gone, then refund the order.": "non imprimé : le serveur l'a vendu pendant que l'application était "
                                               "arrêtée (redémarrée en pleine vente). Imprimez-le, ou abandonnez-le "
                                               "si l'acheteur est parti, puis remboursez la commande.",
    "{done} printed, then: {why}": "{done} imprimé(s), puis : {why}",
    "not sent: the printer failed on an earlier ticket of this order.":
        "non envoyé : l'imprimante a échoué sur un billet précédent de cette commande.",
    "No printable copy of ticket {key} on this device (its QR comes with the kiosk's event bundle). Nothing printed.":
        "Pas de copie imprimable du billet {key} sur cet appareil (son QR vient avec les données d'événement du "
        "guichet). Rien n'a été imprimé.",
    "{n} ticket(s) kept to print again: see the print queue.":
        "{n} billet(s) gardé(s) pour être réimprimé(s) : voir la file d'impression.",
    "The report is kept to print again: see the print queue.":
        "Le rapport est gardé pour être réimprimé : voir la file d'impression.",
    "The slip is kept to print again: see the print queue.":
        "Le reçu est gardé pour être réimprimé : voir la file d'impression.",
    "printer {name} is no longer set up": "l'imprimante {name} n'est plus configurée",
    # desk receipts (drivers.printers.receipt)
    "RECEIPT": "REÇU", "Total": "Total", "Discount": "Remise", "Payment": "Paiement", "Cash": "Espèces",
    "Card (terminal)": "Carte (terminal)", "Invoice": "Facture", "Voucher": "Bon / avoir", "Given": "Remis",
    "Change": "Rendu", "Terminal ref.": "Réf. terminal", "Sold offline": "Vendu hors ligne",
    "split": "fractionné", "Reference": "Référence", "Exchange: {what}": "Échange : {what}",
    "Refund": "Remboursement", "Thank you": "Merci", "{n} x {what}": "{n} x {what}",
}
CATALOGUES = {"en": {}, "fr": FR}


def plain(text: object) -> str:
    """One line of untrusted text (a buyer name…) safe to print, by the core's one rule (agent.safe_text): control
    characters (ESC, GS, DLE, newlines… which a printer or a document would act on) and bidi overrides are written
    as visible escapes such as `\\x1d`, never sent as themselves."""
    return printable(str(text or "")).strip()


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; one of {', '.join(LANGUAGES)}")
    return lang


def say(lang: str, template: str, **params: object) -> str:
    """`template` (English) in `lang`, with its `{placeholders}` filled; a parameter that is a known phrase is
    translated too. An unknown language or phrase stays English (never an error on a printer path)."""
    table = CATALOGUES.get(lang, {})
    args = {k: table.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return table.get(template, template).format(**args) if args else table.get(template, template)


def money(cents: int, currency: str = "EUR", lang: str = "en") -> str:
    """An amount in the event's currency: 'EUR 12.50' / '12,50 EUR' (the code, never a symbol a printer's code
    page may lack); negative amounts keep their sign."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(int(cents)), 100)
    if lang == "fr":
        return f"{sign}{units:,}".replace(",", " ") + f",{rest:02d} {currency}"
    return f"{sign}{currency} {units:,}.{rest:02d}"


def _local(ts: float, tz: str) -> datetime:
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.fromtimestamp(ts, timezone.utc).astimezone(zone)


def day(d: datetime, lang: str) -> str:
    """'Sat 5 Dec 2026' / 'sam. 5 déc. 2026'."""
    lang = lang if lang in LANGUAGES else "en"
    return f"{_DAYS[lang][d.weekday()]} {d.day} {_MONTHS[lang][d.month - 1]} {d.year}"


def when(starts_at: float | None, ends_at: float | None, tz: str, lang: str = "en") -> str:
    """Start (and end) in the event's time zone with the zone's abbreviation: 'Sat 5 Dec 2026, 06:00–09:00 EST';
    the end date is shown when it is another day more than 16 h later. '' without a start time."""
    if starts_at is None:
        return ""
    start = _local(starts_at, tz)
    head = f"{day(start, lang)}, {start:%H:%M}"
    if ends_at is None or ends_at <= starts_at:
        return f"{head} {start.tzname()}"
    end = _local(ends_at, tz)
    if end.date() == start.date() or (end - start).total_seconds() < 16 * 3600:
        return f"{head}–{end:%H:%M} {end.tzname()}"
    return f"{head} – {day(end, lang)}, {end:%H:%M} {end.tzname()}"
