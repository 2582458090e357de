"""The desk's sale as the screens show it: the cart (categories, stock left, sold out, quantities, promotion, total),
the payment (what to collect, change due) and the receipt that prints. Pure: no Kivy, no I/O.

Amounts are formatted in the app's language (the operator reads them); the receipt is built in the event's language
(the buyer takes it home)."""
from __future__ import annotations

from dataclasses import dataclass

from agent.reasons import code_of
from agent.sync.messages import REFERENCE_NEEDED, reference_missing
from drivers.printers.receipt import Receipt, ReceiptLine
from drivers.printers.wording import money, say, when
from kiosk_ui.i18n import language, tr, tr_n
from kiosk_ui.presenters.labels import PAYMENT_LABELS
from kiosk_ui.presenters.refusals import refusal_text
from kiosk_ui.services import CartQuote, DeskResult, Payment, SaleResult, SaleTarget

MAX_IN_CART = 20                        # per category, one tap at a time; the server's per-order limit still applies


def amount(cents: int, currency: str) -> str:
    return money(cents, currency, language())


def target_title(target: SaleTarget) -> str:
    """The event (or pass) and its date as the operator reads them: the date in the app's language (the receipt
    keeps the event's, `date_text`)."""
    date = (when(target.starts_at, target.ends_at, target.timezone, language()) if target.starts_at is not None
            else target.date_text)
    return f"{target.name}\n{date}" if date else target.name


@dataclass(frozen=True)
class CategoryRow:
    category: int
    title: str              # "Adult · EUR 15.00"
    stock: str              # "12 left" | "Sold out" | ''
    quantity: int
    sold_out: bool
    can_add: bool


@dataclass(frozen=True)
class CartView:
    title: str              # event (or pass) and date
    rows: tuple[CategoryRow, ...]
    lines: tuple[str, ...]  # priced lines, with the promotion under the line it applied to
    total: str              # "Total: EUR 45.00"
    problem: str            # translated; '' when the cart can be paid
    can_pay: bool
    promotions: str = ""    # "Promotion: 4 for 3, -10% (SPRING)" (always in sight, next to the total)


def cart_view(target: SaleTarget, cart: dict[int, int], quote: CartQuote | None) -> CartView:
    rows = []
    for c in target.categories:
        n = cart.get(c.category, 0)
        sold_out = c.left is not None and c.left <= 0
        stock = tr("Sold out") if sold_out else (tr_n("{n} left", "{n} left", c.left) if c.left is not None else "")
        rows.append(CategoryRow(c.category, f"{c.name} · {amount(c.unit_cents, target.currency)}", stock, n, sold_out,
                                not sold_out and n < MAX_IN_CART and (c.left is None or n < c.left)))
    lines: list[str] = []
    total = 0
    problem = ""
    if quote is not None and not quote.problem:
        for line in quote.lines:
            lines.append(f"{line.quantity} × {line.name}   {amount(line.total_cents, quote.currency)}")
            if line.promotion:
                lines.append(f"   {tr('Promotion')} {line.promotion}   {amount(-line.discount_cents, quote.currency)}")
        total = quote.total_cents
    elif quote is not None:                  # a refusal with its reason code (agent.reasons) is said from its code
        code, params = code_of(quote.problem)
        problem = refusal_text(quote.problem, code, params) if code else tr(quote.problem)
    empty = not any(cart.values())
    title = target_title(target)
    applied = sorted({line.promotion for line in quote.lines if line.promotion}) if quote is not None else []
    return CartView(title, tuple(rows), tuple(lines), tr("Total: {amount}", amount=amount(total, target.currency)),
                    problem if not empty else tr("Choose the tickets."), not empty and not problem and quote is not None,
                    tr("Promotion: {what}", what=", ".join(applied)) if applied and not problem else "")


@dataclass(frozen=True)
class PaymentView:
    to_pay: str              # "To pay: EUR 45.00"
    change: str              # "Change due: EUR 5.00" (cash), else ''
    problem: str             # translated; '' when the sale can be confirmed
    can_confirm: bool


def payment_view(quote: CartQuote, payment: Payment) -> PaymentView:
    problem = payment.problem(quote.total_cents)
    change = ""
    in_cash = sum(c for m, c, _ in payment.parts if m == "cash") if payment.parts else quote.total_cents
    if payment.method == "cash" and payment.given_cents is not None and payment.given_cents >= in_cash:
        change = tr("Change due: {amount}", amount=amount(payment.given_cents - in_cash, quote.currency))
    return PaymentView(tr("To pay: {amount}", amount=amount(quote.total_cents, quote.currency)), change,
                       tr(problem) if problem else "", not problem)


Part = tuple[str, int, str]             # a split payment's part: (method, cents, reference)
SPLIT_HOW = "Split the payment in 2 to 4 parts of cash, card or voucher."


def add_part(parts: tuple[Part, ...], method: str, amount_text: str, reference: str,
             total_cents: int) -> tuple[tuple[Part, ...], str]:
    """The payment screen's "Add this part": the amount typed, taken `method` (cash, card, voucher; a card's or
    voucher's reference), added to the split -> (parts, '') or (parts unchanged, why not: English, for tr())."""
    if method not in ("cash", "card", "voucher"):
        return parts, "Split the payment in 2 to 4 parts of cash, card or voucher."
    cents, why = read_amount(amount_text)
    if cents is None or cents <= 0:
        return parts, why or NOT_AN_AMOUNT
    if len(parts) >= 4:
        return parts, "Split the payment in 2 to 4 parts of cash, card or voucher."
    if cents > total_cents - sum(c for _, c, _ in parts):
        return parts, "The parts of the payment do not add up to the total."
    if reference_missing(method, reference):
        return parts, REFERENCE_NEEDED
    return parts + ((method, cents, reference.strip()),), ""


METHOD_WORDS = {"cash": "cash", "espèces": "cash", "especes": "cash", "card": "card", "carte": "card",
                "voucher": "voucher", "bon": "voucher"}


def read_parts(text: str) -> tuple[tuple[Part, ...], str]:
    """A split payment typed on one line, "cash 20, card 30 AUTH-1" ("espèces 20, carte 30 AUTH-1" in French): each
    part a method, an amount and (card, voucher) a reference -> (parts, '') or ((), why not: English, for tr())."""
    parts: list[Part] = []
    for item in text.split(";" if ";" in text else ","):
        words = item.split()
        method = METHOD_WORDS.get(words[0].lower()) if words else None
        cents, why = read_amount(words[1]) if len(words) > 1 else (None, NOT_AN_AMOUNT)
        if method is None or cents is None or cents <= 0:
            return (), why if method is not None and why else SPLIT_HOW
        parts.append((method, cents, " ".join(words[2:])))
    if not 2 <= len(parts) <= 4:
        return (), SPLIT_HOW
    if any(reference_missing(m, r) for m, _, r in parts):
        return (), REFERENCE_NEEDED
    return tuple(parts), ""


def split_lines(parts: tuple[Part, ...], total_cents: int, currency: str) -> list[str]:
    """The parts taken so far and what is left to pay, in the app's language."""
    lines = [tr("{method}: {amount}", method=tr(PAYMENT_LABELS[m]), amount=amount(c, currency)) + (f" ({r})" if r else "")
             for m, c, r in parts]
    return lines + [tr("Left to pay: {amount}", amount=amount(total_cents - sum(c for _, c, _ in parts), currency))]


MAX_UNITS = 8          # digits before the decimal point: 99,999,999.99 at most (the server takes a till's
#                        amount up to 10**10 cents)
NOT_AN_AMOUNT = "Type an amount, e.g. 150.00"
TOO_LARGE = "Amount too large: at most 8 digits before the decimal point."


def read_amount(text: str) -> tuple[int | None, str]:
    """What the operator typed as an amount ("50", "50.5", "50,50", ".5") -> (cents, '') or (None, why not: English,
    for tr()). The one parser of the payment and till screens: a too long number is said to be too large (it read
    "does not cover the total")."""
    text = text.strip().replace(" ", "").replace(",", ".")
    units, _, frac = text.partition(".")
    if not text.isascii():              # '²' is a digit to str.isdigit, not to int()
        return None, NOT_AN_AMOUNT
    if not (units.isdigit() or (units == "" and frac)) or (frac and not (frac.isdigit() and len(frac) <= 2)):
        return None, NOT_AN_AMOUNT
    if len(units.lstrip("0")) > MAX_UNITS:
        return None, TOO_LARGE
    return int(units or 0) * 100 + int((frac + "00")[:2] if frac else 0), ""


def parse_cents(text: str) -> int | None:
    """`read_amount`'s cents; None when it is not an amount or too large."""
    return read_amount(text)[0]


def sale_message(result: SaleResult) -> str:
    """What the desk says after a sale (the operator's language)."""
    if not result.ok:
        return tr("Not sold: {why}", why=tr(result.problem))
    n = len(result.ticket_keys)
    sold = tr_n("Order {o}: {n} ticket sold.", "Order {o}: {n} tickets sold.", n, o=result.order_number)
    if result.status == "pending":
        sold += " " + tr("Payment pending (invoice).")
    return sold + (" " + tr("Sold offline: sent to the server when it is back.") if result.offline else "")


@dataclass(frozen=True)
class SoldView:
    """The sold screen's headline: the sale, and in the same place when its tickets did not all print."""
    headline: str            # "Order X: 2 tickets sold." (+ "2 tickets NOT printed.")
    printed: bool            # False: shown in the attention colour (the buyer has no ticket yet)
    what_to_do: str          # how to print them again; '' when nothing is missing


def sold_view(result: SaleResult, unprinted: int, kind: str = "ticket") -> SoldView:
    """`unprinted`: tickets (or badges) of the sale that did not come out (DeskFlow.unprinted)."""
    headline = sale_message(result)
    if not result.ok or unprinted <= 0:
        return SoldView(headline, True, "")
    badge = kind == "badge"
    missing = (tr_n("{n} badge NOT printed.", "{n} badges NOT printed.", unprinted) if badge else
               tr_n("{n} ticket NOT printed.", "{n} tickets NOT printed.", unprinted))
    todo = " ".join((tr("The sale is recorded: do not sell it again."),
                     tr('Check the printer, then tap "{again}". Later: Ticket desk, find the order, "{button}".',
                        again=tr("Print the tickets again"), button=tr("Print badges") if badge else tr("Print tickets"))))
    return SoldView(f"{headline}\n{missing}", False, todo)


def receipt_line(printed: bool, message: str) -> str:
    """The sold screen's "Receipt: …" line: when it did not print, also where to print it after the next sale."""
    if printed:
        return message
    return message + " " + tr('Later: Ticket desk, find the order, "{button}".', button=tr("Print receipt"))


def receipt_for(target: SaleTarget, quote: CartQuote, payment: Payment, result: SaleResult,
                sold_at: str = "") -> Receipt:
    """The buyer's receipt, in the event's language (drivers/printers/receipt.py prints it), in the currency the
    sale was counted in: the server's answer's for a sale it made (the kiosk's catalogue may be older), the catalogue's
    for one made offline."""
    names = {c.category: c.name for c in target.categories}
    currency = (result.currency if result.ok and not result.offline and result.currency else "") or quote.currency
    lines = tuple(ReceiptLine(names.get(line.category, line.name), line.quantity, line.total_cents, line.promotion,
                              line.discount_cents) for line in quote.lines)
    if payment.parts:                  # a split payment: each part printed, the cash given against the cash part
        cash = any(m == "cash" for m, _, _ in payment.parts)
        return Receipt(target.name, target.date_text, result.order_number, lines,
                       result.total_cents or quote.total_cents, currency, payment.parts[0][0],
                       payment.given_cents if cash else None, "", payment.buyer_name, sold_at, target.language,
                       result.offline, parts=tuple((m, c, r.strip()) for m, c, r in payment.parts))
    return Receipt(target.name, target.date_text, result.order_number, lines, result.total_cents or quote.total_cents,
                   currency, payment.method, payment.given_cents if payment.method == "cash" else None,
                   payment.reference, payment.buyer_name, sold_at, target.language, result.offline)


def exchange_receipt(target: SaleTarget, new_name: str, done: DeskResult, payment: str, parts: tuple[Part, ...] = (),
                     sold_at: str = "") -> Receipt | None:
    """The exchange's slip, in the event's language: the ticket it became, the price difference collected
    ("Total") or handed back ("Refund"), each part of a split with its reference; None when it settled nothing."""
    if not done.ok or not done.amount_cents or not done.order_number:
        return None
    what = say(target.language, "Exchange: {what}", what=new_name)
    return Receipt(target.name, target.date_text, done.order_number, (ReceiptLine(what, 1, abs(done.amount_cents)),),
                   abs(done.amount_cents), done.currency, parts[0][0] if parts else payment, sold_at=sold_at,
                   language=target.language, refund=done.amount_cents < 0,
                   parts=tuple((m, c, r.strip()) for m, c, r in parts))


def exchange_message(done: DeskResult) -> str:
    """What the exchange's price difference asks: collect or hand back, each way when it was split ('EUR 10.00 Cash
    and EUR 20.00 Card (terminal)')."""
    money = (tr(" and ").join(f"{amount(cents, done.currency)} {tr(PAYMENT_LABELS.get(method, method))}"
                              for method, cents in done.parts) if len(done.parts) > 1
             else amount(abs(done.amount_cents), done.currency))
    return (tr("Exchanged: collect {amount}.", amount=money) if done.amount_cents > 0 else
            tr("Exchanged: hand back {amount}.", amount=money) if done.amount_cents < 0 else
            tr("Exchanged: same price."))


def refund_message(order_number: str, done: DeskResult) -> str:
    """What to hand back for a refund, each way the order was paid when it was split ('EUR 20.00 Cash and EUR 30.00
    Card (terminal)': the card part goes back on the card); one way other than cash is named too ('EUR 50.00 Card
    (terminal)'): the operator hands back cash only when the buyer paid cash."""
    if len(done.parts) > 1 or (done.parts and done.parts[0][0] != "cash"):
        back = tr(" and ").join(f"{amount(cents, done.currency)} {tr(PAYMENT_LABELS.get(method, method))}"
                                for method, cents in done.parts)
        return tr("Order {o} refunded: hand back {amount}.", o=order_number, amount=back)
    return tr("Order {o} refunded: hand back {amount}.", o=order_number, amount=amount(-done.amount_cents, done.currency))
