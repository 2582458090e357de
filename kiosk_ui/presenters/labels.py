"""Fixed choices offered to staff (English msgids; translated when shown). No Kivy: the i18n test reads them."""
from drivers.printers import registry as _printers

UNDO_REASONS = ("Scanned by mistake", "Wrong ticket shown", "Guest left before entering")
CHECKIN_REASONS = ("QR code unreadable", "Phone battery dead", "Name checked with ID", "Supervisor decision")
EXCHANGE_REASONS = ("Wrong date bought", "Upgrade of category", "Damaged ticket")
MENU_TILES = (("scan", "Scan"), ("search", "Search"), ("events", "Events and zones"), ("kiosk", "Ticket desk"),
              ("stats", "Statistics"), ("sync", "Sync"), ("setup", "Set-up"))
ENROLLMENT_STEPS = {"idle": "Not enrolled yet: scan the enrollment QR, or type the organiser code.",
                    "discovering": "Looking for the organiser's server on this network…",
                    "contacting": "Contacting the server…", "enrolled": "Enrolled", "failed": "Enrollment failed",
                    "unavailable": "Not available"}
STATS_TITLES = ("Per event", "Per zone", "Per gate")
SCREEN_TITLES = ("Scan", "Search", "Events and zones", "Ticket desk", "Statistics", "Sync", "Set-up", "Menu")

SCANNER_LABELS = {"camera": "camera", "zebra": "Zebra laser (DataWedge)", "bluebird": "Bluebird laser",
                  "keyboard": "keyboard-wedge laser"}

# printer types and their layouts come from the drivers' registry (a new printer language appears here by itself)
PRINTER_LANGUAGES = {lang.name: lang.label for lang in _printers.languages()}
PRINTER_FORMATS = {lang.name: dict(zip(lang.formats, lang.format_labels or lang.formats)) for lang in _printers.languages()}

LABEL_TABLES = (tuple(SCANNER_LABELS.values()), tuple(PRINTER_LANGUAGES.values()),
                tuple(label for formats in PRINTER_FORMATS.values() for label in formats.values()), UNDO_REASONS,
                CHECKIN_REASONS, EXCHANGE_REASONS,
                tuple(t for _, t in MENU_TILES), tuple(ENROLLMENT_STEPS.values()),
                STATS_TITLES, SCREEN_TITLES)
