"""Bad input never crashes a driver: every parser answers random bytes/extras with a read, an ignored read or a
status, and the renderers either render or raise their own RenderError."""
from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings, strategies as st

from drivers.printers import status as S
from drivers.printers.escpos_render import RenderError, render_escpos
from drivers.printers.zpl_render import RenderError as ZplRenderError, render_zpl
from drivers.scanners import bluebird, datawedge
from drivers.scanners.reads import IgnoredRead, ScanRead, clean_scan
from drivers.scanners.serial_source import SerialFramer
from drivers.scanners.wedge import WedgeAssembler

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.recursive(st.none() | st.booleans() | st.integers(-300, 300) | st.text(max_size=20) | st.binary(max_size=20),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                      max_leaves=10)


@FAST
@given(st.binary(max_size=600))
def test_clean_scan_any_bytes(raw):
    read = clean_scan(raw, "serial")
    assert isinstance(read, (ScanRead, IgnoredRead))
    if isinstance(read, ScanRead):
        assert read.text and read.text == read.text.strip("\r\n\t\x00 ")


@FAST
@given(st.sampled_from(["ch.ticketgate.SCAN", "x"]),
       st.dictionaries(st.sampled_from([datawedge.DATA_STRING, datawedge.DECODE_DATA, datawedge.SOURCE,
                                        datawedge.LABEL_TYPE, "other"]), values, max_size=5))
def test_datawedge_any_extras(action, extras):
    assert isinstance(datawedge.parse_scan_intent(action, extras), (ScanRead, IgnoredRead))
    ok, message = datawedge.parse_result(extras if isinstance(extras.get("RESULT_INFO", {}), dict) else {})
    assert isinstance(ok, bool) and message


@FAST
@given(st.dictionaries(st.sampled_from([bluebird.EXTRA_DATA, bluebird.EXTRA_SYMBOLOGY, "x"]), values, max_size=3))
def test_bluebird_any_extras(extras):
    assert isinstance(bluebird.parse_broadcast(bluebird.ACTION_DECODING_DATA, extras), (ScanRead, IgnoredRead))


@FAST
@given(st.lists(st.tuples(st.floats(0, 0.5), st.sampled_from(list("AB1:-\r\n \x00é"))), max_size=80))
def test_wedge_any_timing(keys):
    wedge, now = WedgeAssembler(), 0.0
    for gap, ch in keys:
        now += gap
        out = wedge.feed(ch, now)
        assert out is None or isinstance(out, (ScanRead, IgnoredRead))
    assert wedge.poll(now + 10) is None or wedge.pending == ""


@FAST
@given(st.lists(st.binary(max_size=50), max_size=10))
def test_serial_framer_any_bytes(chunks):
    framer = SerialFramer()
    for i, chunk in enumerate(chunks):
        assert all(isinstance(r, (ScanRead, IgnoredRead)) for r in framer.feed(chunk, i * 0.3))


@FAST
@given(st.binary(max_size=64))
def test_status_parsers_any_reply(reply):
    assert S.parse_escpos(reply).message and S.parse_zpl(reply).message


@FAST
@given(st.binary(max_size=200))
@example(b"\x1d(k\x03\x001C\xff\x1d(k\x04\x001P0x\x1d(k\x03\x001Q0")
def test_escpos_renderer_any_bytes(data):
    try:
        render_escpos(data)
    except RenderError:
        pass


@FAST
@given(st.text(alphabet="^~XAZFODSGBLPWH0123456789,NQM_:. ", max_size=120))
@example("^XA^PW800^LL400^FO1,1^GB99999999,5,5^FS^A0N,999999,9^FDx^FS^BQN,2,99^FDMA,x^FS^XZ")
def test_zpl_renderer_any_text(text):
    try:
        render_zpl(text.encode())
    except ZplRenderError:
        pass
