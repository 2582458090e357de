"""`ticketgate decode`: texts in images, the verdict when a text is a ticket, clear errors for bad files."""
from __future__ import annotations

import json

from PIL import Image

from agent.cli import main as ticketgate
from drivers.testkit.tickets import Issuer, qr_gray


def _png(path, text):
    Image.fromarray(qr_gray(text, scale=4)).save(path)
    return path


def test_decode_json_verifies_tickets_against_the_keyring(tmp_path, capsys):
    issuer = Issuer.create()
    ring = tmp_path / "keyring.json"
    issuer.keyring.save(ring)
    good = issuer.payload(ticket_id=777)
    forged = good[:-6] + ("0" if good[-6] != "0" else "1") + good[-5:]
    stranger = Issuer.create(key_id=99).payload()
    files = [_png(tmp_path / "good.png", good), _png(tmp_path / "forged.png", forged),
             _png(tmp_path / "stranger.png", stranger), _png(tmp_path / "url.png", "https://example.org/x")]
    assert ticketgate(["decode", "--json", "--keyring", str(ring), *map(str, files)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["path"] for o in out] == [str(f) for f in files]
    assert out[0]["texts"] == [good]
    verdict = out[0]["codes"][0]["verdict"]
    assert verdict["status"] == "ok" and verdict["ticket"]["ticket_id"] == 777
    assert out[1]["codes"][0]["verdict"]["status"] in ("forged", "malformed")
    assert out[2]["codes"][0]["verdict"]["status"] == "unknown_key"
    assert out[3]["codes"][0] == {"text": "https://example.org/x", "verdict": None}


def test_decode_human_output_and_missing_keyring_uses_agent_home(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TICKETGATE_HOME", str(tmp_path / "home"))
    issuer = Issuer.create()
    (tmp_path / "home").mkdir()
    issuer.keyring.save(tmp_path / "home" / "keyring.json")
    f = _png(tmp_path / "t.png", issuer.payload(ticket_id=5))
    assert ticketgate(["decode", str(f)]) == 0
    out = capsys.readouterr().out
    assert "OK ticket 5 event 1" in out


def test_decode_bad_inputs_never_crash(tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    rc = ticketgate(["decode", "--json", "--keyring", str(tmp_path / "nope.json"), str(junk), str(blank),
                     str(tmp_path / "missing.png")])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 2
    assert "cannot read image" in out[0]["error"] and out[1]["texts"] == [] and "error" in out[2]
    assert "unreadable" in out[0]["keyring_warning"]


def test_decode_refuses_a_decompression_bomb_and_goes_on(tmp_path, capsys):
    import struct
    import zlib
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)          # claims 900 Mpx of grayscale
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))
    good = _png(tmp_path / "ok.png", "still decoded")
    rc = ticketgate(["decode", "--json", "--keyring", str(tmp_path / "none.json"), str(bomb), str(good)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 2 and "DecompressionBomb" in out[0]["error"] and out[1]["texts"] == ["still decoded"]
