"""Event bundles: signed manifest + compressed chunks. Building (server) and assembling (device). Pure.

A bundle is one signed manifest (agent.sync.signed) naming org, target device, version, base
version (0 = full), events, the trusted ticket keys, and the SHA-256 of every chunk; then the chunks,
each `MAGIC | bundle id (16 bytes) | u32 index | zlib(JSON section)`. A section is a dict with any of
`events`, `tickets` ({"columns": [...], "rows": [[...]]}), `revocations`, `blocks`, `unrevoked`,
`unblocked`. Only the manifest is signed; chunk hashes bind the chunks to it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from agent.ledger.catalogue import TICKET_COLUMNS
from agent.sync.messages import CHUNK_MAGIC, MAX_MESSAGE, BundleManifest, ChunkHeader
from agent.sync.signed import Rejected, seal

MAGIC = CHUNK_MAGIC
MAX_CHUNKS = 4096
MAX_CHUNK = 8 << 20                 # compressed bytes
MAX_SECTION = 64 << 20              # decompressed bytes (zip-bomb guard)


def is_chunk(data: bytes) -> bool:
    return ChunkHeader.is_chunk(data)


def build(*, org: str, device: str, version: int, base_version: int, events: list[int], sections: Iterable[dict[str, Any]],
          keyring: dict[str, Any], sign: Callable[[bytes], bytes], bundle_id: bytes, level: int = 6,
          ts: float | None = None) -> tuple[bytes, list[bytes]]:
    """-> (signed manifest, chunk messages). `bundle_id`: 16 random bytes."""
    chunks = encode_chunks(sections, bundle_id, level)
    return manifest(org, device, bundle_id, version, base_version, events, keyring, chunks, sign, ts), chunks


def manifest(org: str, device: str, bundle_id: bytes, version: int, base_version: int, events: list[int],
             keyring: dict[str, Any], chunks: list[bytes], sign: Callable[[bytes], bytes], ts: float | None = None,
             cursor: int | None = None) -> bytes:
    """The signed manifest naming one device (the chunks may be shared by every device of a push)."""
    m = BundleManifest(org, device, bundle_id.hex(), version, base_version, tuple(sorted(events)), keyring,
                       tuple(hashlib.sha256(c).hexdigest() for c in chunks), cursor)
    return seal(dict(m.to_wire(), id=os.urandom(8).hex() + device, ts=time.time() if ts is None else ts), sign)


def encode_chunks(sections: Iterable[dict[str, Any]], bundle_id: bytes, level: int = 1,
                  limit: int = MAX_MESSAGE - 1024) -> list[bytes]:
    """Chunk messages, each under `limit` bytes (the broker refuses larger ones): a section too big compressed is
    split in halves (its longest list) until it fits. Each part is encoded once (JSON and zlib are most of a
    build: measuring the size apart doubled them, docs/performance.md)."""
    out: list[bytes] = []
    for section in sections:
        for data in _deflate_to_fit(section, level, limit - ChunkHeader.SIZE):
            out.append(ChunkHeader(bundle_id, len(out)).pack() + data)
    return out


def _deflate(section: dict[str, Any], level: int) -> bytes:
    return zlib.compress(json.dumps(section, separators=(",", ":"), ensure_ascii=False).encode(), level)


def _deflate_to_fit(section: dict[str, Any], level: int, limit: int) -> list[bytes]:
    """`split_to_fit` by compressed size, returning each part's compressed bytes (each part deflated once)."""
    data = _deflate(section, level)
    halves = _halves(section) if len(data) > limit else None
    if halves is None:
        return [data]
    return _deflate_to_fit(halves[0], level, limit) + _deflate_to_fit(halves[1], level, limit)


def split_to_fit(section: dict[str, Any], size: Callable[[dict[str, Any]], int], limit: int) -> list[dict[str, Any]]:
    """[section] if size(section) <= limit, else halves of its longest list (ticket rows, revocations…), recursively.
    A single element over the limit is returned as it is (nothing is dropped; the broker will refuse it, loudly)."""
    halves = _halves(section) if size(section) > limit else None
    if halves is None:
        return [section]
    return split_to_fit(halves[0], size, limit) + split_to_fit(halves[1], size, limit)


def _halves(section: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The section in two, its longest list halved; None when no list has two elements."""
    lists = [(len(v), path) for path, v in _lists(section) if len(v) > 1]
    if not lists:
        return None
    _, path = max(lists)
    rows = _at(section, path)
    half = len(rows) // 2
    return _with(section, path, rows[:half]), _with(section, path, rows[half:])


def _lists(section: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    for k, v in section.items():
        if isinstance(v, list):
            yield (k,), v
        elif isinstance(v, dict) and isinstance(v.get("rows"), list):
            yield (k, "rows"), v["rows"]


def _at(section: dict[str, Any], path: tuple[Any, ...]) -> list[Any]:
    rows: list[Any] = section[path[0]] if len(path) == 1 else section[path[0]][path[1]]
    return rows


def _with(section: dict[str, Any], path: tuple[Any, ...], rows: list[Any]) -> dict[str, Any]:
    if len(path) == 1:
        return dict(section, **{path[0]: rows})
    return dict(section, **{path[0]: dict(section[path[0]], **{path[1]: rows})})


def ticket_section(rows: list[dict[str, Any]], payloads: bool = False) -> dict[str, Any]:
    """payloads: add each row's signed QR `payload` (bundles for kiosk devices only; never on a live topic)."""
    cols = (*TICKET_COLUMNS, "payload") if payloads else TICKET_COLUMNS
    return {"tickets": {"columns": list(cols), "rows": [[r.get(c) for c in cols] for r in rows]}}


def check_manifest(m: dict[str, Any], org: str, device: str, current_version: int, current_events: list[int],
                   catch_up: bool = False) -> None:
    """Raise Rejected unless this (signature-verified) manifest is meant for us and newer than what we have.
    `catch_up`: the device asked for the entries it missed (agent.sync.device.CATCH_UP_SETTING): the version it holds
    is taken too, from a bundle that carries them (its `cursor`: a full one, or a delta from the version it holds)."""
    if m.get("org") != org or m.get("device") != device:
        raise Rejected(f"bundle for {m.get('org')}/{m.get('device')}, not for {org}/{device}")
    try:
        typed = BundleManifest.from_wire(m)
    except Rejected as exc:
        raise Rejected(f"malformed bundle manifest ({exc})") from None
    version, base = typed.version, typed.base_version
    if len(m["chunks"]) > MAX_CHUNKS:
        raise Rejected("bundle has too many chunks")
    other_events = base == 0 and sorted(m.get("events") or []) != sorted(current_events)
    again = catch_up and version == current_version and (base == 0 or typed.cursor is not None)
    if version <= current_version and not other_events and not again:
        if version == current_version:
            raise AlreadyHeld(f"bundle version {version} again: the device holds it")
        raise Rejected(f"stale or replayed bundle: version {version}, device has {current_version}")
    if base and (base != current_version or sorted(m.get("events") or []) != sorted(current_events)):
        raise DeltaMismatch(f"delta from version {base} does not fit this device (version {current_version}, events "
                            f"{sorted(current_events)})")


class AlreadyHeld(Rejected):
    """The version the device holds, again: a second `server push` with nothing changed, or a push and the answer
    to a hello carrying the same version. Nothing to apply and not an attack (an older version still is refused)."""


class DeltaMismatch(Rejected):
    """A newer delta built on another version or event list than this device's: it answered an older hello of the
    device (two hellos crossed a change) or another device state. Not an attack: the device asks again (its hello
    names what it has) and gets the delta that fits."""


@dataclass
class Pending:
    manifest: dict[str, Any]
    chunks: dict[int, bytes] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return len(self.chunks) == len(self.manifest["chunks"])


class Assembler:
    """Collects the chunks of the bundle whose manifest was accepted; one bundle at a time."""

    def __init__(self) -> None:
        self.pending: Pending | None = None

    def start(self, manifest: dict[str, Any]) -> Pending:
        self.pending = Pending(manifest)
        return self.pending

    def add(self, data: bytes) -> Pending | None:
        """Add a chunk message; returns the bundle once complete. Raises Rejected for a bad chunk."""
        if len(data) < ChunkHeader.SIZE or len(data) > MAX_CHUNK + ChunkHeader.SIZE:
            raise Rejected("chunk of impossible size")
        head = ChunkHeader.unpack(data)
        bundle_id, index = head.bundle_id, head.index
        p = self.pending
        if p is None or bundle_id.hex() != p.manifest["bundle_id"]:
            raise Rejected("chunk of a bundle we did not accept (no or other manifest)")
        expected = p.manifest["chunks"]
        if index >= len(expected) or hashlib.sha256(data).hexdigest() != expected[index]:
            raise Rejected(f"chunk {index} does not match the signed manifest")
        p.chunks[index] = data
        if p.complete:
            self.pending = None
            return p
        return None


def sections(p: Pending) -> Iterable[dict[str, Any]]:
    for index in range(len(p.manifest["chunks"])):
        yield section(p.chunks[index], index)


def section(chunk: bytes, index: int) -> dict[str, Any]:
    """One chunk message (hash already checked against the manifest) -> its section."""
    d = zlib.decompressobj()
    raw = d.decompress(chunk[ChunkHeader.SIZE:], MAX_SECTION)
    if d.unconsumed_tail:
        raise Rejected("bundle section too large once decompressed")
    try:
        out = json.loads(raw)
    except ValueError:
        raise Rejected(f"bundle section {index} is not JSON") from None
    if not isinstance(out, dict):
        raise Rejected(f"bundle section {index} is not an object")
    return out
