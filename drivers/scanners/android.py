"""Android broadcast plumbing for DataWedge / Bluebird, written for python-for-android.

Android 14 (API 34) throws SecurityException when an app registers a runtime receiver for non-system broadcasts
without RECEIVER_EXPORTED or RECEIVER_NOT_EXPORTED; p4a's stock `android.broadcast.BroadcastReceiver` calls the
two-argument registerReceiver. Scanner broadcasts come from another app (DataWedge, the Bluebird service), so our
receiver is registered EXPORTED with the three-argument call on API 33+.

The pure part (flags, extras conversion, the receiver's dispatch) runs and is tested on the desktop; the pyjnius
part (`jnius_register`, `bundle_to_dict`, `send_broadcast`) is only imported on Android.
"""
from __future__ import annotations

import sys
from typing import Callable

RECEIVER_EXPORTED = 0x2          # android.content.Context.RECEIVER_EXPORTED (API 33)
RECEIVER_NOT_EXPORTED = 0x4
TIRAMISU = 33

Register = Callable[[tuple[str, ...], int, Callable[[str, dict], None]], Callable[[], None]]


def receiver_flags(api_level: int, exported: bool = True) -> int | None:
    """Flags for Context.registerReceiver; None: use the two-argument call (before API 33 there is no flags form)."""
    if api_level < TIRAMISU:
        return None
    return RECEIVER_EXPORTED if exported else RECEIVER_NOT_EXPORTED


def api_level() -> int:
    return sys.getandroidapilevel() if hasattr(sys, "getandroidapilevel") else 0


class ScannerReceiver:
    """Receives scanner broadcasts and hands (action, extras dict) to `on_broadcast`.

    `register(actions, flags, callback) -> unregister` does the platform work; on Android it is `jnius_register`.
    Errors in the callback are kept in `last_error` (a broadcast must never kill the app's main thread)."""

    def __init__(self, actions: tuple[str, ...], on_broadcast: Callable[[str, dict], None],
                 register: Register | None = None, api: int | None = None, exported: bool = True):
        self.actions, self.on_broadcast = tuple(actions), on_broadcast
        self.register = register or jnius_register
        self.api = api_level() if api is None else api
        self.flags = receiver_flags(self.api, exported)
        self._unregister: Callable[[], None] | None = None
        self.last_error = ""

    def start(self) -> None:
        if self._unregister is None:
            self._unregister = self.register(self.actions, self.flags, self._dispatch)

    def stop(self) -> None:
        if self._unregister is not None:
            self._unregister()
            self._unregister = None

    @property
    def active(self) -> bool:
        return self._unregister is not None

    def _dispatch(self, action: str, extras: dict) -> None:
        if action not in self.actions:
            return
        try:
            self.on_broadcast(action, extras)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"


# ---- pyjnius (Android only) --------------------------------------------------------------------------------
def bundle_to_dict(bundle) -> dict:
    """android.os.Bundle -> dict: strings, boxed numbers, byte[] as bytes, ArrayList (decode_data: list of byte[]),
    nested Bundles. A value that cannot be converted is left out (the parsers fall back, e.g. to data_string)."""
    out: dict = {}
    if bundle is None:
        return out
    for key in bundle.keySet().toArray():
        try:
            value = bundle.get(key)
            if value is not None and not isinstance(value, (str, int, float, bool)) \
                    and value.getClass().getName() == "[B":
                out[key] = _bytes(bundle.getByteArray(key))
            else:
                out[key] = _java_value(value)
        except Exception:
            continue
    return out


def _bytes(values) -> bytes:
    return bytes(b & 0xFF for b in values)


def _java_value(value):
    from jnius import cast  # type: ignore[import-not-found]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, bytearray, bytes)):            # byte[] already converted by pyjnius
        return _bytes(value) if all(isinstance(b, int) for b in value) else [_java_value(v) for v in value]
    name = value.getClass().getName()
    if name in ("java.lang.Integer", "java.lang.Long", "java.lang.Short", "java.lang.Byte"):
        return int(value.longValue())
    if name == "java.lang.Boolean":
        return bool(value.booleanValue())
    if name == "android.os.Bundle":
        return bundle_to_dict(cast("android.os.Bundle", value))
    if name == "java.util.ArrayList":
        lst = cast("java.util.ArrayList", value)
        return [_java_value(lst.get(i)) for i in range(lst.size())]
    if name == "[B":
        # an element of decode_data, typed Object: ByteBuffer.wrap(…).array() hands it back typed as byte[]
        return _bytes(autoclass_bytebuffer().wrap(value).array())
    return str(value.toString())


def autoclass_bytebuffer():
    from jnius import autoclass  # type: ignore[import-not-found]
    return autoclass("java.nio.ByteBuffer")


def jnius_register(actions: tuple[str, ...], flags: int | None, callback: Callable[[str, dict], None]):
    """Register a runtime receiver through p4a's GenericBroadcastReceiver, with the exported flag on API 33+."""
    from jnius import PythonJavaClass, autoclass, java_method  # type: ignore[import-not-found]

    class _Callback(PythonJavaClass):
        __javainterfaces__ = ["org/kivy/android/GenericBroadcastReceiverCallback"]
        __javacontext__ = "app"

        @java_method("(Landroid/content/Context;Landroid/content/Intent;)V")
        def onReceive(self, context, intent):
            callback(intent.getAction(), bundle_to_dict(intent.getExtras()))

    context = autoclass("org.kivy.android.PythonActivity").mActivity
    intent_filter = autoclass("android.content.IntentFilter")()
    for action in actions:
        intent_filter.addAction(action)
    intent_filter.addCategory("android.intent.category.DEFAULT")
    java_callback = _Callback()
    receiver = autoclass("org.kivy.android.GenericBroadcastReceiver")(java_callback)
    if flags is None:
        context.registerReceiver(receiver, intent_filter)
    else:
        context.registerReceiver(receiver, intent_filter, flags)

    def unregister() -> None:
        context.unregisterReceiver(receiver)
        _keep.discard(java_callback)

    _keep.add(java_callback)   # the Java side holds only a weak reference to the Python object
    return unregister


_keep: set = set()


def send_broadcast(action: str, extras: dict) -> None:
    """Send an Intent with extras (str, int, bool, list of str, nested dict -> Bundle, list of dicts -> Bundle[])."""
    from jnius import autoclass  # type: ignore[import-not-found]
    intent = autoclass("android.content.Intent")(action)
    for key, value in extras.items():
        _put(intent, key, value, autoclass)
    autoclass("org.kivy.android.PythonActivity").mActivity.sendBroadcast(intent)


def _bundle(d: dict, autoclass):
    bundle = autoclass("android.os.Bundle")()
    for key, value in d.items():
        _put(bundle, key, value, autoclass, is_bundle=True)
    return bundle


_ARRAYLIST_KEYS = {"PLUGIN_CONFIG"}     # DataWedge reads several plugins from an ArrayList<Bundle>


def _put(target, key, value, autoclass, is_bundle: bool = False) -> None:
    if key in _ARRAYLIST_KEYS and isinstance(value, list):
        lst = autoclass("java.util.ArrayList")()
        for item in value:
            lst.add(_bundle(item, autoclass))
        target.putParcelableArrayList(key, lst) if is_bundle else target.putParcelableArrayListExtra(key, lst)
    elif isinstance(value, dict):
        b = _bundle(value, autoclass)
        target.putBundle(key, b) if is_bundle else target.putExtra(key, b)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        arr = [_bundle(v, autoclass) for v in value]
        target.putParcelableArray(key, arr) if is_bundle else target.putExtra(key, arr)
    elif isinstance(value, list):
        target.putStringArray(key, [str(v) for v in value]) if is_bundle else target.putExtra(key, [str(v) for v in value])
    elif isinstance(value, bool):
        target.putBoolean(key, value) if is_bundle else target.putExtra(key, value)
    elif isinstance(value, int):
        target.putInt(key, value) if is_bundle else target.putExtra(key, value)
    else:
        target.putString(key, str(value)) if is_bundle else target.putExtra(key, str(value))
