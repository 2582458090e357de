"""Fixed choices offered to staff (English msgids; translated when shown). No Kivy: the i18n test reads them."""
from agent.sync.messages import SETTLE_METHODS
from drivers.printers import registry as _printers

UNDO_REASONS = ("Scanned by mistake", "Wrong ticket shown", "Guest left before entering")
CHECKIN_REASONS = ("QR code unreadable", "Phone battery dead", "Name checked with ID", "Supervisor decision")
EXCHANGE_REASONS = ("Wrong date bought", "Upgrade of category", "Damaged ticket")
# how a ticket was taken back (agent.desk_sale.take_back, the server's order cancel/refund): "KIND: reason" or whole
REVOKED_WORDS = ("refunded", "cancelled", "exchanged", "order refunded", "order cancelled")
REFUND_REASONS = ("Event cancelled or moved", "Buyer cannot come", "Sold by mistake", "Duplicate purchase")
PAYMENT_LABELS = {"cash": "Cash", "card": "Card (terminal)", "invoice": "Invoice (pay later)",
                  "voucher": "Voucher / exchange credit"}
EXCHANGE_PAYMENTS = SETTLE_METHODS      # how an exchange's price difference is settled (never invoiced)
DESK_PROBLEMS = ("Sold out", "Not enough left", "Choose the tickets.", "Choose how the buyer pays.",
                 "The cash given does not cover the total.", "Type the terminal's or the voucher's reference.",
                 "This e-mail address is not valid.", "The buyer's name is too long.",
                 "The reference is too long (200 characters at most).", "This e-mail address is too long.",
                 "Offline, and this kiosk has no sales allotment.",
                 "Offline, and this kiosk's sales allotment has expired.",
                 "Offline, and this kiosk's sales allotment is used up.",
                 "Offline, and this kiosk's sales allotment does not cover this event or category.",
                 "A refund needs the server: try again when the kiosk is online.",
                 "An exchange needs the server: try again when the kiosk is online.",
                 "This order's sale or payment made offline has not reached the server yet: try again in a moment.",
                 "The server did not answer in time.", "Selling is not available on this device.",
                 "No ticket in this order.", "Tap a ticket first.", "sales not open yet", "sales closed",
                 "Amount too large: at most 8 digits before the decimal point.")
MENU_TILES = (("scan", "Scan"), ("search", "Search"), ("events", "Events and zones"), ("sell", "Sell tickets"),
              ("kiosk", "Ticket desk"), ("stats", "Statistics"), ("sync", "Sync"), ("setup", "Set-up"),
              ("staff", "Staff"), ("till", "Cash-up"))
ENROLLMENT_STEPS = {"idle": "Not enrolled yet: scan the enrollment QR, or type the organiser code.",
                    "discovering": "Looking for the organiser's server on this network…",
                    "contacting": "Contacting the server…", "enrolled": "Enrolled", "failed": "Enrollment failed",
                    "unavailable": "Not available",
                    "wiped": "This device was revoked and wiped: enroll it again (QR or organiser code)."}
# what a refused upload was (kiosk_ui.adapters.sync.refusal_line): its action or desk kind
UPLOAD_KINDS = {"entry": "Entry", "cancel": "Quick cancellation", "annul": "Undo", "refusal": "Refused scan",
                "sale": "Sale", "refund": "Refund", "exchange": "Exchange"}
# a desk move of the Z report (a rollback's cancelled moves)
MOVE_LABELS = {"sale": "Sale", "refund": "Refund", "exchange": "Exchange", "payment": "Payment"}
STATS_TITLES = ("Per event", "Per zone", "Per gate")
SCREEN_TITLES = ("Scan", "Search", "Events and zones", "Ticket desk", "Statistics", "Sync", "Set-up", "Menu",
                 "Sell tickets", "Payment", "Sale", "Cart", "Staff", "Cash-up")

SCANNER_LABELS = {"camera": "camera", "zebra": "Zebra laser (DataWedge)", "bluebird": "Bluebird laser",
                  "keyboard": "keyboard-wedge laser"}

# printer types and their layouts come from the drivers' registry (a new printer language appears here by itself)
PRINTER_LANGUAGES = {lang.name: lang.label for lang in _printers.languages()}
PRINTER_FORMATS = {lang.name: dict(zip(lang.formats, lang.format_labels or lang.formats)) for lang in _printers.languages()}

# the cash-up screen (kiosk_ui/presenters/till.py)
TILL_LABELS = ("Z report", "Shift {n}", "Sales", "tickets", "Refunds", "Cancellations", "Exchanges", "Float",
               "Expected cash", "Counted cash", "Difference", "Shift {n} open, float {amount}", "Close shift",
               "Cash counted in the drawer", "No shift open", "Open shift", "Float (cash in the drawer)",
               "Type an amount, e.g. 150.00", "Cash-up")

# the server's refusal codes (agent.reasons.REASON_CODES) as the kiosk says them: English msgids, translated by tr()
REFUSAL_TEXTS = {
    "sold_out": "Sold out: {left} left, {asked} asked.",
    "sales_not_open": "Sales are not open yet.",
    "sales_closed": "Sales are closed.",
    "door_only": "Sold at the door only.",
    "price_changed": "The price changed since it was shown: check the total and confirm again.",
    "too_many": "{count} tickets: at most {max} per order.",
    "promo_unknown": "Unknown promo code {code}.",
    "promo_not_valid": "Promo code {code} is not valid now.",
    "promo_used_up": "Promo code {code} is used up.",
    "no_price": "Category {category} has no price here.",
    "already_exchanged": "Ticket {ticket} was already exchanged or cancelled.",
    "ticket_used": ("Ticket {ticket} was used (admitted {at} at {where}): not exchanged. The organiser resets its "
                    "entry first (ticketgate server ticket reset {ticket}), then it can be exchanged."),
    "exchange_price_differs": "The price differs by {difference}: needs the server; try again when online.",
    "exchange_needs_prices": ("No price list on this kiosk for category {category}: changing the category needs the "
                              "server; try again when online."),
    "order_closed": "Order {order} is already refunded or cancelled: nothing done.",
    "wrong_amount": "Order {order}: {due} due, {given} collected: the payment was not recorded.",
    "parts_total": "The parts of the payment add up to {paid}, the total is {total}: nothing sold.",
    "difference_parts": "The parts add up to {paid}, the price difference is {difference}: nothing exchanged.",
    "no_open_shift": "This kiosk has no open till shift.",
    "allotment_not_due": "Offline allotment {allotment} still has {left} tickets: no new one yet.",
    "allotment_revoked": ("Sold after the organiser revoked allotment {allotment} ({at}): not a sale; hand {amount} "
                          "back to the buyer."),
    "shift_open": "This kiosk's till shift {shift} is open already: close it first.",
    "till_currency": ("This kiosk's till is in {currency}, not {given}: nothing done. Let the kiosk sync its price "
                      "list, then try again."),
    "expired": "Not carried out: it reached the server {late} s after this kiosk stopped waiting.",
    "busy": "The server is busy: try again in {seconds} s.",
    # uploads the server refused (the ack), shown on the Sync screen
    "other_device": "Sent in the name of another device ({device}).",
    "no_staff": "No staff member named: log in on this device.",
    "staff_unknown": "Unknown staff member {staff}.",
    "staff_inactive": "Staff member {name} ({staff}) is deactivated.",
    "staff_not_allowed": "{name} ({role}) may not do this ({permission}).",
    "organiser_only": "Only the organiser may do this ({kind}).",
    "event_not_held": "Event {event} is not one of this device's events.",
    "ticket_other_event": "Ticket {ticket} is not a ticket of event {event}.",
    "pass_event_taken": ("Ticket {ticket}: pass {pass} no longer opened event {event} then (the organiser took it "
                         "from the pass at {at}): sync this device."),
    "dated_ahead": "Dated {hours} h ahead of the server's clock: set this device's date and time.",
    "gate_not_posted": "Scanned at gate {gate}: the organiser gave this device gate {given}.",
    "exit_not_posted": "An exit: the organiser set this device in {mode} mode.",
    "cancel_not_posted": "A quick cancellation: the organiser set this device in {mode} mode.",
    "annul_no_ref": "This undo names no check-in.",
    "annul_unknown": "Undo of a check-in the server does not have.",
    "annul_not_checkin": "Undo of something that is not a check-in (an undo is not undone).",
    "annul_other_device": "Undo of a check-in made by {device}: only the organiser may.",
    "already_annulled": "This check-in was already undone.",
    "annul_other_ticket": "This undo names ticket {ticket}, not the ticket of the check-in it undoes.",
    "scan_id_taken": "Its scan id {scan} is another record's: not stored.",
    "kiosk_only": "Only a kiosk may send this ({message}).",
    "unknown_order": "Unknown order {order}.",
    "unknown_ticket": "Unknown ticket {ticket}.",
    "unknown_target": "Unknown event or pass {target}.",
    "order_not_held": "Order {order} is not of this device's events.",
    "ticket_not_held": "Ticket {ticket} is not of this device's events.",
    "target_not_held": "Event or pass {target} is not of this device's events.",
    "rate_too_big": "Too much at once: {count} messages, {size} bytes.",
    "malformed": "Malformed message ({detail}).",
    "too_large": "Too large to upload ({size} bytes).",
    "not_applied": "Not applied: {detail}",
}
LABEL_TABLES = (tuple(REFUSAL_TEXTS.values()), tuple(UPLOAD_KINDS.values()), tuple(SCANNER_LABELS.values()), tuple(PRINTER_LANGUAGES.values()),
                tuple(label for formats in PRINTER_FORMATS.values() for label in formats.values()), UNDO_REASONS,
                CHECKIN_REASONS, EXCHANGE_REASONS, REFUND_REASONS, REVOKED_WORDS, tuple(PAYMENT_LABELS.values()), DESK_PROBLEMS,
                tuple(t for _, t in MENU_TILES), tuple(ENROLLMENT_STEPS.values()),
                STATS_TITLES, SCREEN_TITLES, TILL_LABELS)
