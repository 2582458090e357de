"""Shared widgets: glove-sized buttons, coloured panels, wrapped labels, simple popups."""
from __future__ import annotations

from typing import Callable, Sequence

from kivy.graphics import Color, Rectangle
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.scrollview import ScrollView
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton

from kiosk_ui.i18n import tr

TOUCH = 76          # dp: 12 mm at 160 dpi (gloves); every tappable thing is at least this tall
GAP = 8


def paint(widget, colour) -> None:
    """Give a widget a solid background that follows its size (recolour with `widget.bg.rgba = …`)."""
    with widget.canvas.before:
        widget.bg = Color(*colour)
        widget.bg_rect = Rectangle(pos=widget.pos, size=widget.size)
    widget.bind(pos=lambda w, v: setattr(w.bg_rect, "pos", v), size=lambda w, v: setattr(w.bg_rect, "size", v))


def paint_outlined(widget, colour, outline=(0, 0, 0, 1), width: float = 4) -> None:
    """Like `paint`, inside a frame of `outline` (`width` dp): stays visible on a background of its own colour,
    e.g. the orange OFFLINE badge over an orange verdict."""
    w = dp(width)
    with widget.canvas.before:
        Color(*outline)
        frame = Rectangle(pos=widget.pos, size=widget.size)
        widget.bg = Color(*colour)
        inner = Rectangle(pos=(widget.x + w, widget.y + w), size=(max(0, widget.width - 2 * w), max(0, widget.height - 2 * w)))

    def follow(wd, *_):
        frame.pos, frame.size = wd.pos, wd.size
        inner.pos, inner.size = (wd.x + w, wd.y + w), (max(0, wd.width - 2 * w), max(0, wd.height - 2 * w))
    widget.bind(pos=follow, size=follow)


def _wrap_and_fit(w, *_):
    """Wrap a button's label to its width, shrinking the font (not below 13 sp) until its widest word fits:
    French labels such as "Réimprimer" must never break inside a word on a 5-inch screen."""
    avail = w.width - dp(8)
    w.text_size = (avail, None)
    if avail <= 0 or not w.text.strip():
        return
    widest = max(_text_width(word, w.base_font, w.bold) for word in w.text.split())
    w.font_size = w.base_font if widest <= avail else max(sp(13), w.base_font * avail / widest)


def _text_width(text: str, font_size: float, bold: bool) -> float:
    from kivy.core.text import Label as CoreLabel
    probe = CoreLabel(text=text, font_size=font_size, bold=bold)
    probe.refresh()
    return probe.texture.size[0]


class BigButton(Button):
    def __init__(self, text: str = "", on_press: Callable | None = None, colour=(0.22, 0.25, 0.30, 1), **kw):
        kw.setdefault("font_size", sp(20))
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", dp(TOUCH))
        super().__init__(text=text, background_normal="", background_color=colour, halign="center", valign="middle", **kw)
        self.base_font = self.font_size
        self.bind(size=_wrap_and_fit, text=_wrap_and_fit)
        if on_press:
            self.bind(on_release=lambda *_: on_press())


class BigToggle(ToggleButton):
    def __init__(self, text: str = "", **kw):
        kw.setdefault("font_size", sp(19))
        kw.setdefault("size_hint_y", None)
        kw.setdefault("height", dp(TOUCH))
        super().__init__(text=text, background_normal="", background_down="", halign="center", valign="middle", **kw)
        self.base_font = self.font_size
        self.bind(state=self._recolour, size=_wrap_and_fit, text=_wrap_and_fit)
        self._recolour()

    def _recolour(self, *_):
        self.background_color = (0.05, 0.45, 0.75, 1) if self.state == "down" else (0.25, 0.27, 0.32, 1)


class Text(Label):
    """A label that wraps to its width and grows in height (for lists and reasons)."""
    def __init__(self, text: str = "", font: float = 20, bold: bool = False, **kw):
        kw.setdefault("size_hint_y", None)
        self.base_font = font
        super().__init__(text=text, font_size=sp(font), bold=bold, halign=kw.pop("halign", "left"), valign="middle", **kw)
        self.bind(width=lambda w, v: setattr(w, "text_size", (v - dp(12), None)),
                  texture_size=lambda w, v: setattr(w, "height", max(v[1] + dp(8), w.font_size * 1.6)))

    def scale(self, factor: float) -> None:
        self.font_size = sp(self.base_font) * factor


def field(hint: str, password: bool = False, input_filter=None) -> TextInput:
    pad_y = (dp(TOUCH) - sp(22) * 1.2) / 2          # text vertically centred in the glove-sized field
    return TextInput(hint_text=hint, multiline=False, font_size=sp(22), size_hint_y=None, height=dp(TOUCH),
                     password=password, input_filter=input_filter, write_tab=False,
                     padding=[dp(12), pad_y, dp(12), pad_y])


def search_row(hint: str, label: str, on_go: Callable[[], object]) -> tuple[BoxLayout, TextInput, Button]:
    """A text field and its button on one row; Enter in the field does what the button does."""
    row = BoxLayout(size_hint_y=None, height=dp(TOUCH), spacing=dp(GAP))
    query = field(hint)
    query.bind(on_text_validate=lambda *_: on_go())
    go = BigButton(label, on_go, size_hint_x=None, width=dp(110), colour=(0.05, 0.45, 0.75, 1))
    row.add_widget(query)
    row.add_widget(go)
    return row, query, go


def scroll_list() -> tuple[ScrollView, GridLayout]:
    grid = GridLayout(cols=1, spacing=dp(GAP), size_hint_y=None, padding=dp(4))
    grid.bind(minimum_height=grid.setter("height"))
    view = ScrollView(do_scroll_x=False, bar_width=dp(10))
    view.add_widget(grid)
    return view, grid


def choose(title: str, options: Sequence[tuple[str, Callable[[], object]]],
           colours: dict[int, tuple] | None = None) -> Popup:
    """A popup of big buttons (scrolling when they do not fit); picking one closes it and runs the callback."""
    from kivy.core.window import Window
    box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
    wanted = dp(TOUCH + GAP) * (len(options) + 1) + dp(130)      # + title bar and paddings
    popup = Popup(title=title, title_size=sp(20), content=box, size_hint=(0.92, None),
                  height=min(wanted, Window.height * 0.96), auto_dismiss=True)
    view, grid = scroll_list()
    for i, (label, action) in enumerate(options):
        def run(a=action):
            popup.dismiss()
            a()
        grid.add_widget(BigButton(label, run, colour=(colours or {}).get(i, (0.22, 0.25, 0.30, 1))))
    box.add_widget(view)
    box.add_widget(BigButton(tr("Back"), popup.dismiss, colour=(0.35, 0.35, 0.35, 1)))
    popup.open()
    return popup


def ask_pin(on_ok: Callable[[str], str], title: str | None = None) -> Popup:
    """PIN pad popup; `on_ok(pin)` returns "ok" | "wrong" | "locked_out"."""
    box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
    info = Text(tr("Enter the supervisor PIN"), font=20)
    pin = field(tr("PIN"), password=True, input_filter="int")
    popup = Popup(title=title or tr("Locked"), title_size=sp(20), content=box, size_hint=(0.92, None),
                  height=dp(TOUCH * 3 + 160))

    def submit():
        outcome = on_ok(pin.text)
        if outcome == "ok":
            popup.dismiss()
        else:
            info.text = tr("Wrong PIN.") if outcome == "wrong" else tr("Too many wrong PINs: wait one minute.")
            pin.text = ""

    _open_form(popup, box, info, pin, tr("Unlock"), submit)
    popup.pin_input, popup.submit = pin, submit
    return popup


def info_popup(title: str, lines: list[str]) -> Popup:
    """Read-only text (checklists, help) that scrolls, with one big Back button."""
    box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
    view, grid = scroll_list()
    for line in lines:
        grid.add_widget(Text(line, font=19))
    popup = Popup(title=title, title_size=sp(20), content=box, size_hint=(0.94, 0.9))
    box.add_widget(view)
    box.add_widget(BigButton(tr("Back"), popup.dismiss, colour=(0.35, 0.35, 0.35, 1)))
    popup.open()
    return popup


def ask_text(title: str, hint: str, on_ok: Callable[[str], str]) -> Popup:
    """One text field; `on_ok(text)` returns '' to close, or a message to show and stay."""
    box = BoxLayout(orientation="vertical", spacing=dp(GAP), padding=dp(GAP))
    info = Text("", font=18)
    entry = field(hint)
    popup = Popup(title=title, title_size=sp(20), content=box, size_hint=(0.94, None), height=dp(TOUCH * 3 + 170))

    def submit():
        problem = on_ok(entry.text)
        if problem:
            info.text = problem
        else:
            popup.dismiss()
    _open_form(popup, box, info, entry, tr("OK"), submit)
    popup.entry, popup.submit = entry, submit
    return popup


def _open_form(popup: Popup, box: BoxLayout, info: Label, entry: TextInput, ok_label: str,
               submit: Callable[[], None]) -> None:
    """A message line, the text field, then Cancel and `ok_label` (runs `submit`); opens the popup."""
    row = BoxLayout(spacing=dp(GAP), size_hint_y=None, height=dp(TOUCH))
    row.add_widget(BigButton(tr("Cancel"), popup.dismiss, colour=(0.35, 0.35, 0.35, 1)))
    row.add_widget(BigButton(ok_label, submit, colour=(0.05, 0.45, 0.75, 1)))
    for w in (info, entry, row):
        box.add_widget(w)
    popup.open()
