"""The APK build proven as far as a machine without the Android SDK/NDK allows, with buildozer's and
python-for-android's own code (both from PyPI, in the dev extra):

* buildozer reads buildozer.spec and builds the two p4a command lines (`create`, `apk`); p4a's toolchain parser
  and its bootstrap's build.py parser must accept them (an unknown flag such as `--feature` stops a real build);
* every requirement is a p4a recipe (p4a's or ours in p4a-recipes/, p4a looks there first) whose version
  satisfies pyproject.toml, or a pure-Python distribution (p4a installs those with `pip --no-deps`);
* the app started the Android way (kiosk_ui.android_main with pyjnius/android stand-ins, from the files buildozer
  copies into the APK, with OpenCV, zxing-cpp, pyusb, pyserial and server_stub unimportable) imports only what the
  requirements provide.
"""
from __future__ import annotations

import ast
import configparser
import importlib.metadata as metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from packaging.requirements import Requirement  # buildozer's dependency
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCAL_RECIPES = ROOT / "p4a-recipes"
NOT_IN_THE_APK = ("cv2", "zxingcpp", "usb", "serial", "evdev", "server_stub", "tests")


class _Stop(Exception):
    pass


def _spec_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "buildozer.spec")
    return [r.strip() for r in parser["app"]["requirements"].split(",") if r.strip()]


def _pyproject_specifiers() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("camera", "print", "ui"):
        reqs += project["optional-dependencies"][extra]
    out = {}
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"sys_platform": "linux"}):
            out[canonicalize_name(req.name)] = req
    return out


@pytest.fixture(scope="module")
def buildozer_run(tmp_path_factory):
    """buildozer's android target on our spec, with p4a's command runner replaced by a recorder; also the app
    folder exactly as buildozer copies it into the APK."""
    from buildozer import Buildozer
    tmp = tmp_path_factory.mktemp("buildozer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp / "home"))           # buildozer's global folder (~/.buildozer)
        mp.chdir(ROOT)                                  # buildozer runs from the project (relative paths in the spec)
        b = Buildozer(str(ROOT / "buildozer.spec"))
        b.config.set("buildozer", "build_dir", str(tmp / "build"))
        b.user_bin_dir = str(tmp / "bin")
        b.set_target("android")
        target = b.target
        calls: list[list[str]] = []
        mp.setattr(target, "_p4a", lambda cmd, env, **kw: calls.append([*cmd, *target.extra_p4a_args]))
        target.compile_platform()                      # -> p4a create
        captured = {}

        def capture(build_cmd):
            captured["build_cmd"] = build_cmd
            raise _Stop
        real_execute = type(target).execute_build_package
        mp.setattr(target, "execute_build_package", capture)
        target.build_mode = "debug"
        os.makedirs(target.get_dist_dir(b.config.get("app", "package.name")), exist_ok=True)
        with pytest.raises(_Stop):
            target.build_package()
        real_execute(target, captured["build_cmd"])   # -> p4a apk
        b._copy_application_sources()
        return {"create": calls[0], "apk": calls[1], "app_dir": Path(b.app_dir)}


def _toolchain_args(argv: list[str]):
    """What p4a's ToolchainCL makes of a command line: its own parser, then its fix-ups up to the command call."""
    import pythonforandroid.toolchain as toolchain
    seen = {}

    def record(self, args):
        seen["args"] = args
        raise _Stop
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith("VERSION_")]:
            mp.delenv(key)
        mp.setenv("VERSION_kivy", "")                     # p4a writes VERSION_<recipe> for pinned requirements:
        mp.delenv("VERSION_kivy")                         # monkeypatch removes it again afterwards
        mp.setattr(sys, "argv", ["p4a", *argv])
        command = argv[0]
        mp.setattr(toolchain.ToolchainCL, command, record)
        with pytest.raises(_Stop):
            toolchain.ToolchainCL()
    return seen["args"]


def _build_py_parser():
    """The sdl2 bootstrap's build.py argument parser (what `p4a apk` hands the unknown arguments to), loaded the
    way p4a's own tests load it (P4A_BUILD_IS_RUNNING_UNITTESTS), for a dist created with --ndk-api 24."""
    import pythonforandroid
    path = Path(pythonforandroid.__file__).parent / "bootstraps" / "common" / "build" / "build.py"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("P4A_BUILD_IS_RUNNING_UNITTESTS", "1")
        spec = importlib.util.spec_from_file_location("p4a_bootstrap_build", path)
        build = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(build)
    build.get_bootstrap_name = lambda: "sdl2"
    build.get_dist_ndk_min_api_level = lambda: 24
    return build.create_argument_parser()


def test_p4a_accepts_every_argument_buildozer_hands_it(buildozer_run, tmp_path):
    apk = _toolchain_args(buildozer_run["apk"])
    from pythonforandroid.toolchain import ToolchainCL
    ToolchainCL._fix_args(apk)
    parsed = _build_py_parser().parse_args(apk.unknown_args)     # SystemExit(2) on an unknown flag
    assert parsed.package == "org.ticketgate.ticketgate" and parsed.min_sdk_version == 24
    permissions = {p for group in parsed.permissions for p in (group if isinstance(group, list) else [group])}
    assert {"CAMERA", "VIBRATE", "CHANGE_WIFI_MULTICAST_STATE"} <= permissions
    assert 'android:name="android.hardware.camera" android:required="false"' in parsed.extra_manifest_xml
    assert parsed.allow_backup == "false" and parsed.wakelock

    create = _toolchain_args(buildozer_run["create"])
    # buildozer adds --ignore-setup-py to every p4a call; `create` has no such option and p4a leaves it unused
    assert create.unknown_args in ([], ["--ignore-setup-py"]) and create.local_recipes == str(LOCAL_RECIPES)
    assert create.ndk_api == 24 and set(create.arch) == {"arm64-v8a", "armeabi-v7a"}


def test_an_android_features_line_would_stop_the_build(buildozer_run):
    """What the spec used to say: buildozer turns android.features into --feature, build.py refuses it."""
    apk = _toolchain_args([*buildozer_run["apk"], "--feature", "android.hardware.camera"])
    with pytest.raises(SystemExit):
        _build_py_parser().parse_args(apk.unknown_args)


def _recipe(name: str, local: bool = True):
    from pythonforandroid.build import Context
    from pythonforandroid.recipe import Recipe
    ctx = Context()
    ctx.local_recipes = str(LOCAL_RECIPES) if local else None
    Recipe.recipes = {}                               # p4a caches recipes per class; look up afresh
    try:
        return Recipe.get_recipe(name, ctx)
    except ValueError:
        return None
    finally:
        Recipe.recipes = {}


def _pure_python(dist: metadata.Distribution) -> bool:
    """A py3-none-any wheel, or every compiled module is an optional speed-up next to its .py twin (fonttools:
    a .so built for this machine is never loaded on Android and the .py runs)."""
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]
    if tags and all(t.endswith("-none-any") and t.startswith(("py3", "py2.py3")) or t == "py2-none-any" for t in tags):
        return True
    files = {str(f) for f in dist.files or []}
    compiled = [f for f in files if f.endswith((".so", ".pyd"))]
    return bool(files) and all(re.sub(r"\.cpython-.*|\.abi3\.so|\.so$", "", f) + ".py" in files for f in compiled)


def test_every_requirement_is_a_recipe_in_range_or_pure_python():
    wanted = _pyproject_specifiers()
    problems = []
    for requirement in _spec_requirements():
        name, _, pin = requirement.partition("==")
        key = canonicalize_name(name)
        recipe = _recipe(name)
        if recipe is not None:
            version = (pin or recipe.version or "").lstrip("v")
            if key in wanted and version and not wanted[key].specifier.contains(version, prereleases=True):
                problems.append(f"recipe {name} {version} does not satisfy pyproject {wanted[key]}")
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: no p4a recipe and not installed here to check it is pure Python")
            continue
        if not _pure_python(dist):
            problems.append(f"{name}: no p4a recipe and not pure Python (wheel {dist.read_text('WHEEL')!r})")
        if key in wanted and not wanted[key].specifier.contains(pin or dist.version, prereleases=True):
            problems.append(f"{name} {pin or dist.version} does not satisfy pyproject {wanted[key]}")
    assert problems == []


def test_zeroconf_in_the_apk_is_ours_not_p4a_s_0_24():
    """p4a's own recipe (0.24.5) wins over pip; ours is searched first and has the version pyproject asks for,
    which has the API the app uses (ServiceBrowser over a list of types, ServiceInfo.parsed_scoped_addresses)."""
    wanted = _pyproject_specifiers()["zeroconf"]
    stock, ours = _recipe("zeroconf", local=False), _recipe("zeroconf")
    assert not wanted.specifier.contains(stock.version)         # 0.24.5 when this was written: what the APK had
    assert wanted.specifier.contains(ours.version) and Version(ours.version) > Version(stock.version)
    assert Path(type(ours).get_recipe_env.__code__.co_filename).parent == LOCAL_RECIPES / "zeroconf"
    assert "ifaddr" in ours.depends and "--no-deps" in ours.setup_extra_args
    import zeroconf
    assert wanted.specifier.contains(zeroconf.__version__)        # the tests here run the same API generation


_MEASURE = r'''
import importlib, importlib.abc, importlib.util, json, os, sys, tempfile, threading
app_dir, standins_path, blocked, out = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
imported_by_the_code = json.loads(sys.argv[5])

class Blocked(importlib.abc.MetaPathFinder):
    """Not in the APK: importing it fails as it would on the device."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not in the APK")
        return None
sys.meta_path.insert(0, Blocked())
spec = importlib.util.spec_from_file_location("android_standins", standins_path)
standins = importlib.util.module_from_spec(spec); spec.loader.exec_module(standins)
device = standins.StandInAndroid(34, storage=tempfile.mkdtemp())
sys.modules.update(device.modules())
os.chdir(app_dir); sys.path.insert(0, app_dir)

from kiosk_ui import android_main
android_main._android_setup()                      # the device start-up
from kiosk_ui.cli import _controller, build_parser
ctl, _ = _controller(build_parser().parse_args([]))   # the app's services, as `run()` builds them
# what the screens reach later: camera decoding (numpy + pyzbar, no OpenCV), printing, discovery, lasers, sync
import numpy as np, segno
from kiosk_ui.adapters.camera import DriverCamera, decoder_chain
qr = segno.make_qr("TG1:ANDROID", error="m")
import io
buf = io.BytesIO(); qr.save(buf, kind="png", scale=6, border=4)
from PIL import Image
gray = np.array(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])      # what Kivy's camera texture gives
texts = list(decoder_chain().decode(rgba).texts)
from drivers.camera import variants
assert variants.cv2 is None and variants.DEFAULT_VARIANTS == variants.NUMPY_VARIANTS
cam = DriverCamera(); cam.start(lambda text: None); cam.stop()
from drivers.printers import badge, escpos_render, zpl_render, service, discovery
from drivers.printers.discovery import PrinterList
PrinterList().refresh(0.1)
import provisioning.device.enroll, provisioning.device.discover, agent.sync.device
from drivers.scanners import android as scanners_android, router
from drivers.feedback.player import android_vibrator
android_vibrator()
ctl.door.close()
import pathlib
for path in sorted(pathlib.Path(app_dir).rglob("*.py")):   # every module shipped imports without what is left out
    parts = path.relative_to(app_dir).with_suffix("").parts
    if parts[-1] != "__main__" and parts != ("main",):
        importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
for name in imported_by_the_code:                 # every import written in the APK's code, lazy ones included
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:                       # `from pkg import attribute`: not a module, nothing to load
            continue
        raise
own = {m: getattr(sys.modules[m], "__file__", None) or "" for m in sys.modules
       if m.split(".")[0] in ("agent", "drivers", "kiosk_ui", "provisioning")}
json.dump({"modules": sorted({m.split(".")[0] for m in sys.modules}), "qr": texts,
           "own_outside_the_apk": sorted(m for m, f in own.items() if f and not f.startswith(app_dir))}, open(out, "w"))
'''


def _imports_in(app_dir: Path) -> set[str]:
    """Every absolute import written in the APK's Python files (module-level and inside functions)."""
    found: set[str] = set()
    for path in app_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def test_every_module_the_android_path_imports_is_a_requirement(buildozer_run, tmp_path):
    app_dir = buildozer_run["app_dir"]
    own = {p.name for p in app_dir.iterdir() if (p / "__init__.py").exists()} | {"main"}
    written = sorted(m for m in _imports_in(app_dir) if m.split(".")[0] not in sys.stdlib_module_names
                     and m.split(".")[0] not in own and m.split(".")[0] not in NOT_IN_THE_APK + ("jnius", "android"))
    out = tmp_path / "measured.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SDL_", "TICKETGATE_"))}
    env.update(ANDROID_ARGUMENT=str(tmp_path), KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
               KIVY_HOME=str(tmp_path / "kivy"), SDL_VIDEODRIVER="offscreen", PYTHONPATH="")
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(app_dir), str(ROOT / "tests" / "android_standins.py"),
                          ",".join(NOT_IN_THE_APK), str(out), json.dumps(written)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)
    said = "".join(line for line in (run.stdout + run.stderr).splitlines(True) if not line.startswith("ALSA lib"))
    assert run.returncode == 0, said[-3000:]          # (a machine without a sound card fills stderr with ALSA's lines)
    measured = json.loads(out.read_text())
    assert measured["own_outside_the_apk"] == []                # the app ran from the copied APK files only
    third_party = {m for m in measured["modules"] if m not in sys.stdlib_module_names and m not in own
                   and not m.startswith("_") and m not in ("android_standins", "cython_runtime")
                   and m not in ("sitecustomize", "usercustomize")}   # the measuring interpreter's site hooks (Debian's)
    # who provides each module: p4a recipes (with what they pull in), then installed distributions
    provided: dict[str, str] = {"jnius": "pyjnius", "android": "android", "kivy": "kivy"}
    for name, dists in metadata.packages_distributions().items():
        provided.setdefault(name, canonicalize_name(dists[0]))
    requirements = {canonicalize_name(r.partition("==")[0]) for r in _spec_requirements()}
    for r in list(requirements):
        recipe = _recipe(r)
        pulled = (getattr(recipe, "python_depends", None) or []) + [d for d in getattr(recipe, "depends", None) or []
                                                                    if isinstance(d, str)]
        requirements.update(canonicalize_name(re.split(r"[<>=;]", d)[0]) for d in pulled)
    missing = sorted(f"{m} ({provided.get(m, 'no distribution')})" for m in third_party
                     if provided.get(m) not in requirements)
    assert missing == [] and {"escpos", "fpdf", "zeroconf", "paho", "yaml"} <= third_party
    assert not set(NOT_IN_THE_APK) & set(measured["modules"])
    assert measured["qr"] == ["TG1:ANDROID"]                     # the camera decodes with numpy + pyzbar alone
    assert not (app_dir / "server_stub").exists() and not (app_dir / "kiosk_ui" / "demo_data.py").exists()
    assert not (app_dir / "tests").exists() and (app_dir / "main.py").exists()
