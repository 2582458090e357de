"""Photos of codes that are not ours, by class (drivers/testkit/photo_classes.py): what each decoder library reads
against our chain, on stills (`DecoderChain.decode`, as `ticketgate decode` reads a photo) and on the door's camera
frames (`DecoderChain.decode_live`, costs pinned to `combine.NOMINAL_MS`, the photo as the camera's 640 x 480 frame, the libraries on the same frame; for
the class with a ticket among other codes the chain keeps a retry's text only if it looks like a ticket, as the
kiosk's scan screen does).

    .venv/bin/python benchmarks/bench_photo_classes.py [--seeds 0:20] [--classes cylinder colour ...] [--misses]

Per class: read / photos for each library and ours, `wrong` the photos where ours reported a text in no code of the
photo, `lost` the photos a library read and ours did not; ms p50 / max of ours. --misses lists, per class, the seeds
ours missed that a library read (what to look at). Tests use other seeds (tests/test_photo_classes.py).
"""
from __future__ import annotations

import argparse
import time

from figures import ROOT  # noqa: F401  (puts the repository on sys.path)

from agent.payload import plausible  # noqa: E402
from drivers.camera.chain import DecoderChain  # noqa: E402
from drivers.camera.combine import NOMINAL_MS  # noqa: E402
from drivers.testkit.photo_classes import PHOTO_CLASSES, camera_frame, gray, judged, libraries, photo  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0:20", help="first:last (exclusive), default 0:20")
    p.add_argument("--classes", nargs="*", default=list(PHOTO_CLASSES))
    p.add_argument("--misses", action="store_true")
    a = p.parse_args()
    lo, hi = (int(x) for x in a.seeds.split(":"))
    libs = libraries()
    chain = DecoderChain(still_cap_ms=300)
    # pinned costs: what the live chain reads depends on the frame only, not on this machine's load (the door learns
    # its costs; bench_door_conditions.py measures them)
    live = DecoderChain(pinned_costs=NOMINAL_MS)
    door = DecoderChain(pinned_costs=NOMINAL_MS, plausible=plausible)       # the scan screen's: a ticket's shape
    names = [*libs, "ours (decode)"]
    print(f"| class | photos | {' | '.join(names)} | ours wrong | live: {' | '.join(libs)} | live ours | "
          f"live wrong | ours ms p50 / max |")
    print("|---" * (2 * len(libs) + 7) + "|")
    for name in a.classes:
        still = {n: 0 for n in names}
        frame = {n: 0 for n in [*libs, "ours"]}
        wrong = live_wrong = 0
        misses: list[str] = []
        ms: list[float] = []
        for seed in range(lo, hi):
            ph = photo(name, seed)
            g = gray(ph)
            read_by = []
            for lib, decode in libs.items():
                ok, _ = judged(ph, decode(g))
                still[lib] += ok
                if ok:
                    read_by.append(lib)
            t0 = time.perf_counter()
            result = chain.decode(g)
            ms.append((time.perf_counter() - t0) * 1000)
            ok, bad = judged(ph, result.texts)
            still["ours (decode)"] += ok
            wrong += bad > 0
            if read_by and not ok:
                misses.append(f"{seed} (decode; {', '.join(read_by)})")
            f = camera_frame(g)
            read_by = []
            for lib, decode in libs.items():
                ok, _ = judged(ph, decode(f))
                frame[lib] += ok
                if ok:
                    read_by.append(lib)
            ok, bad = judged(ph, (door if ph.others else live).decode_live(f).texts)
            frame["ours"] += ok
            live_wrong += bad > 0
            if read_by and not ok:
                misses.append(f"{seed} (live; {', '.join(read_by)})")
        n = hi - lo
        ms.sort()
        print(f"| {name} | {n} | {' | '.join(str(still[x]) for x in names)} | {wrong} | "
              f"{' | '.join(str(frame[x]) for x in libs)} | {frame['ours']} | {live_wrong} | "
              f"{ms[len(ms) // 2]:.0f} / {ms[-1]:.0f} |", flush=True)
        if a.misses and misses:
            print(f"  misses: {'; '.join(misses)}", flush=True)


if __name__ == "__main__":
    main()
