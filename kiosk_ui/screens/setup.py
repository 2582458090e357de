"""Set-up: enroll this device (enrollment QR or organiser code) with discovery progress; PIN (kiosk lock);
device name and gate; buyer names shown or hidden; printers added by address (receipt, Zebra show or cinema
ticket, badge). Everything but enrollment is behind the PIN."""
from __future__ import annotations

from functools import partial

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.progressbar import ProgressBar

from kiosk_ui.i18n import tr
from kiosk_ui.presenters.enrollment import enrollment_message
from kiosk_ui.presenters.labels import ENROLLMENT_STEPS, PRINTER_FORMATS, PRINTER_LANGUAGES, SCANNER_LABELS
from kiosk_ui.screens.base import BaseScreen
from kiosk_ui.screens.printer_setup import ask_new_printer
from kiosk_ui.screens.widgets import GAP, TOUCH, BigButton, Text, choose, field, scroll_list


class SetupScreen(BaseScreen):
    title = "Set-up"

    def __init__(self, ui, **kw):
        super().__init__(ui, **kw)
        view, box = scroll_list()
        self.body.add_widget(view)
        self.enroll_title = Text("", font=21, bold=True)
        self.code_help = Text("", font=17)
        self.code = field(tr("Code or QR text"))
        row = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
        self.qr_button = BigButton("", self.scan_qr)
        self.code_button = BigButton("", self.enroll_code, colour=(0.05, 0.45, 0.75, 1))
        row.add_widget(self.qr_button)
        row.add_widget(self.code_button)
        self.progress = ProgressBar(max=1.0, value=0.0, size_hint_y=None, height=dp(28))
        self.progress_text = Text("", font=19)
        self.device_title = Text("", font=21, bold=True)
        self.device_label = Text("", font=17)
        self.device_id = field(tr("Device name"))
        self.gate_label = Text("", font=17)
        self.gate = field(tr("Gate name"))
        self.save_button = BigButton("", lambda: self.guarded(self.save_identity))
        self.buyer_button = BigButton("", lambda: self.guarded(self.toggle_buyer))
        self.scanner_button = BigButton("", lambda: self.guarded(self.ask_scanner))
        self.sound_button = BigButton("", lambda: self.guarded(lambda: self.toggle_feedback("sound")))
        self.vibrate_button = BigButton("", lambda: self.guarded(lambda: self.toggle_feedback("vibrate")))
        self.pin_title = Text("", font=21, bold=True)
        self.pin = field(tr("New PIN (4 to 8 digits)"), password=True, input_filter="int")
        self.pin_button = BigButton("", lambda: self.guarded(self.set_pin))
        self.lock_button = BigButton("", self.lock_now, colour=(0.45, 0.30, 0.05, 1))
        self.printers_title = Text("", font=21, bold=True)
        self.printers_list = Text("", font=17)
        self.printer_button = BigButton("", lambda: ask_new_printer(self, self._printer_added))
        self.result = Text("", font=19, bold=True)
        for w in (self.enroll_title, self.code_help, self.code, row, self.progress, self.progress_text, self.device_title,
                  self.device_label, self.device_id, self.gate_label, self.gate, self.save_button, self.buyer_button, self.scanner_button, self.sound_button, self.vibrate_button, self.pin_title, self.pin,
                  self.pin_button, self.lock_button, self.printers_title, self.printers_list, self.printer_button,
                  self.result):
            box.add_widget(w)
        self._poll = None

    # -- enrollment --------------------------------------------------------------------------------------------------
    def scan_qr(self) -> None:
        camera = self.ctl.services.camera
        if not camera.start(lambda payload: Clock.schedule_once(lambda *_: self.enroll_qr(payload)),
                            plausible=self.ui.plausible_read):      # a retry's misread is not an enrollment QR
            self.result.text = tr("No camera here: type the organiser code, or scan the QR with the laser into the field.")

    def enroll_qr(self, payload: str) -> None:
        self.ctl.services.camera.stop()
        self._show(self.ctl.enroll(payload, qr=True))

    def enroll_code(self) -> None:
        self._show(self.ctl.enroll(self.code.text.strip()))

    def _show(self, p) -> None:
        self.progress.value = p.fraction
        step = tr(ENROLLMENT_STEPS.get(p.step, p.step))
        message = enrollment_message(p.message) if p.message else ""
        self.progress_text.text = f"{step} — {message}" if message else step
        if p.step in ("discovering", "contacting") and self._poll is None:
            self._poll = Clock.schedule_interval(lambda *_: self._tick(), 0.5)

    def _tick(self) -> None:
        p = self.ctl.services.enrollment.progress()
        self._show(p)
        if p.step not in ("discovering", "contacting") and self._poll is not None:
            self._poll.cancel()
            self._poll = None
            if p.step == "enrolled":
                self.ctl.after_enrollment()
                self.refresh()
            else:
                self.ctl.enrollment_failed()

    # -- protected settings ------------------------------------------------------------------------------------------
    def save_identity(self) -> None:
        try:
            self.ctl.door.set_identity(self.device_id.text.strip() or "device", self.gate.text.strip() or "gate")
        except ValueError:                    # the server would refuse every entry naming it: nothing changed
            self.result.text = tr("A device or gate name is at most 64 characters, on one line.")
            return
        self.result.text = tr("Saved.")

    def toggle_buyer(self) -> None:
        self.ctl.set_show_buyer(not self.ctl.show_buyer)
        self.refresh()

    def toggle_feedback(self, what: str) -> None:
        self.ctl.set_feedback(**{what: not getattr(self.ctl.feedback, what)})
        self.refresh()

    def ask_scanner(self) -> None:
        options = [(tr(SCANNER_LABELS[m]), partial(self.set_scanner, m)) for m in SCANNER_LABELS]
        self.ui.popup = choose(tr("Scanner"), options)

    def set_scanner(self, mode: str) -> None:
        if self.ctl.set_scanner_mode(mode):
            self.refresh()                                  # says why when the laser could not start

    def set_pin(self) -> None:
        try:
            self.ctl.lock.set_pin(self.pin.text)
            self.result.text = tr("PIN saved. Settings, events and mode are now locked.")
        except (ValueError, PermissionError):
            self.result.text = tr("The PIN is 4 to 8 digits.")
        self.pin.text = ""

    def _printer_added(self, message: str) -> None:
        self.result.text = message
        self.refresh()

    def lock_now(self) -> None:
        self.ctl.lock.lock()
        self.result.text = tr("Locked.") if self.ctl.lock.has_pin else tr("Set a PIN first.")

    def refresh(self) -> None:
        svc = self.ctl.services.enrollment
        self.enroll_title.text = tr("Enroll this device")
        self.code_help.text = tr("Type the organiser code, or scan the enrollment QR with the laser into the field.")
        self.code.hint_text = tr("Code or QR text")
        self.qr_button.text = tr("Scan enrollment QR")
        self.code_button.text = tr("Enroll with code")
        self.qr_button.disabled = self.code_button.disabled = not svc.available
        if not svc.available:
            self.progress_text.text = tr("Enrollment is not available on this build.")
        else:
            self._show(svc.progress())
        self.device_label.text, self.gate_label.text = tr("Device name"), tr("Gate name")
        p = self.ctl.door.policy
        self.device_title.text = tr("This device")
        self.device_id.text, self.gate.text = self.ctl.door.display_name, p.gate
        self.save_button.text = tr("Save name and gate")
        self.buyer_button.text = tr("Buyer names: shown") if self.ctl.show_buyer else tr("Buyer names: hidden")
        self.scanner_button.text = tr("Scanner: {mode}", mode=tr(SCANNER_LABELS.get(self.ctl.scanner_mode(), "?")))
        self.scanner_button.disabled = self.ctl.services.lasers is None
        feedback = self.ctl.feedback
        self.sound_button.text = tr("Sounds: on") if feedback.sound else tr("Sounds: off")
        self.vibrate_button.text = tr("Vibration: on") if feedback.vibrate else tr("Vibration: off")
        lasers = self.ctl.services.lasers
        laser_problems = lasers.problems if lasers is not None else []
        if laser_problems:            # refused receiver, DataWedge/Bluebird refusal (arrives after the mode starts)
            self.result.text = laser_problems[-1]
        self.pin_title.text = tr("Kiosk lock (PIN)")
        self.pin_button.text = tr("Change PIN") if self.ctl.lock.has_pin else tr("Set PIN")
        self.lock_button.text = tr("Lock now")
        self.printers_title.text = tr("Printers")
        lines = []
        for p in self.ctl.added_printers():
            fmt = PRINTER_FORMATS.get(p.language, {}).get(p.format)
            lines.append(f"• {p.name} — {tr(PRINTER_LANGUAGES.get(p.language, p.language))}"
                         + (f" — {tr(fmt)}" if fmt else ""))
        self.printers_list.text = "\n".join(lines) or tr("No printer yet.")
        self.printer_button.text = tr("Add a printer")
