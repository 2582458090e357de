"""Android broadcast plumbing for DataWedge / Bluebird, written for python-for-android.

Android 14 (API 34) throws SecurityException when an app registers a runtime receiver for non-system broadcasts
without RECEIVER_EXPORTED or RECEIVER_NOT_EXPORTED; p4a's stock `android.broadcast.BroadcastReceiver` calls the
two-argument registerReceiver. Scanner broadcasts come from another app (DataWedge, the Bluebird service), so our
receiver is registered EXPORTED with the three-argument call on API 33+ — the DEVICE's level
(`drivers.android_device.device_api_level`, Build.VERSION.SDK_INT), not the interpreter's build level. If Android
refuses anyway, `start()` raises ScannerStartError with a message for the technician.

The pure part (flags, the receiver's dispatch) runs anywhere; the pyjnius part (`jnius_register`, `bundle_to_dict`,
`send_broadcast`, `app_package`) imports jnius when called: on a device, and in the tests against pyjnius/Android
stand-ins built from their sources (tests/android_standins.py).
"""
from __future__ import annotations

from typing import Callable

from agent.errors import TicketgateError
from drivers.android_device import device_api_level

RECEIVER_EXPORTED = 0x2          # android.content.Context.RECEIVER_EXPORTED (API 33)
RECEIVER_NOT_EXPORTED = 0x4
TIRAMISU = 33

Register = Callable[[tuple[str, ...], int | None, Callable[[str, dict], None]], Callable[[], None]]


def receiver_flags(api_level: int, exported: bool = True) -> int | None:
    """Flags for Context.registerReceiver; None: use the two-argument call (before API 33 there is no flags form)."""
    if api_level < TIRAMISU:
        return None
    return RECEIVER_EXPORTED if exported else RECEIVER_NOT_EXPORTED


class ScannerStartError(TicketgateError, RuntimeError):
    """Android refused the scanner receiver (e.g. SecurityException on Android 14): shown, never swallowed."""


class ScannerReceiver:
    """Receives scanner broadcasts and hands (action, extras dict) to `on_broadcast`.

    `register(actions, flags, callback) -> unregister` does the platform work; on Android it is `jnius_register`.
    Errors in the callback are kept in `last_error` (a broadcast must never kill the app's main thread)."""

    def __init__(self, actions: tuple[str, ...], on_broadcast: Callable[[str, dict], None],
                 register: Register | None = None, api: int | None = None, exported: bool = True):
        self.actions, self.on_broadcast = tuple(actions), on_broadcast
        self.register = register or jnius_register
        self.api = device_api_level() if api is None else api
        self.flags = receiver_flags(self.api, exported)
        self._unregister: Callable[[], None] | None = None
        self.last_error = ""

    def start(self) -> None:
        if self._unregister is not None:
            return
        try:
            self._unregister = self.register(self.actions, self.flags, self._dispatch)
        except Exception as exc:      # jnius.JavaException "JVM exception occurred: … java.lang.SecurityException"
            how = "two-argument registerReceiver" if self.flags is None else f"registerReceiver flags {self.flags:#x}"
            raise ScannerStartError(f"Android (API {self.api}) refused the scanner receiver ({how}): {exc}") from exc

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
    """android.os.Bundle -> dict: strings, numbers, booleans, byte[] as bytes, ArrayList (DataWedge decode_data: a
    list of byte[]), nested Bundles. A value that cannot be converted is kept as its text, never dropped silently.

    What pyjnius hands back (pyjnius 1.7.0, jnius/jnius_conversion.pxi `convert_jobject_to_python`): Bundle.get()
    is typed Object, so pyjnius looks up the real class; String -> str, Integer/Long/Short/Byte -> int,
    Boolean -> bool, Float/Double -> float, and an array class `[B` (byte[]) -> `convert_jarray_to_python`, which
    returns a `jnius.ByteArray` (jnius_nativetypes3.pxi): len(), indexing (unsigned 0..255), tolist(),
    tostring() -> bytes, and NO getClass(). Any other object comes back as an autoclass proxy with getClass()."""
    out: dict = {}
    if bundle is None:
        return out
    for key in bundle.keySet().toArray():
        value = bundle.get(key)
        try:
            out[str(key)] = _java_value(value)
        except Exception as exc:      # kept as text: the parser then says why it ignores the read
            out[str(key)] = f"unreadable extra ({type(value).__name__}: {exc})"
    return out


def _bytes(values) -> bytes:
    return bytes(b & 0xFF for b in values)      # also right for signed Java bytes (-128..127)


def is_jnius_byte_array(value) -> bool:
    """A pyjnius ByteArray (the conversion of a Java byte[]): a sequence with tolist()/tostring(), no getClass()."""
    return hasattr(value, "tolist") and hasattr(value, "tostring") and not hasattr(value, "getClass")


def _java_value(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if is_jnius_byte_array(value):
        return _bytes(value.tolist())
    if isinstance(value, (list, tuple)):            # Object[] / String[] already converted by pyjnius
        return [_java_value(v) for v in value]
    name = value.getClass().getName()
    if name in ("java.lang.Integer", "java.lang.Long", "java.lang.Short", "java.lang.Byte"):
        return int(value.longValue())
    if name == "java.lang.Boolean":
        return bool(value.booleanValue())
    from jnius import cast
    if name == "android.os.Bundle":
        return bundle_to_dict(cast("android.os.Bundle", value))
    if name in ("java.util.ArrayList", "java.util.List"):
        lst = cast("java.util.ArrayList", value)
        return [_java_value(lst.get(i)) for i in range(lst.size())]
    return str(value.toString())


def jnius_register(actions: tuple[str, ...], flags: int | None, callback: Callable[[str, dict], None]):
    """Register a runtime receiver through p4a's GenericBroadcastReceiver, with the exported flag on API 33+."""
    from jnius import PythonJavaClass, autoclass, java_method

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


def app_package() -> str:
    """This app's Android package name (DataWedge binds its profile to it)."""
    from jnius import autoclass
    return str(autoclass("org.kivy.android.PythonActivity").mActivity.getPackageName())


def send_broadcast(action: str, extras: dict) -> None:
    """Send an Intent with extras (str, int, bool, list of str, nested dict -> Bundle, list of dicts -> Bundle[])."""
    from jnius import autoclass
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
