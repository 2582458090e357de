"""Android stand-ins for the desktop tests: a `jnius` module and p4a's `android` package, shaped after the real
sources so the app's pyjnius code runs here as it would on a device. Nothing in them is invented behaviour:

* pyjnius 1.7.0 — jnius/jnius_conversion.pxi `convert_jobject_to_python`: a method typed `Object` (Bundle.get,
  ArrayList.get) returns str for String, int for Integer/Long/Short/Byte, bool for Boolean, float for
  Float/Double, and for an array class `[B` calls `convert_jarray_to_python`, which returns a `ByteArray`
  (jnius/jnius_nativetypes3.pxi): __len__, __getitem__ giving UNSIGNED values (its buffer is `unsigned char *`)
  or a list for a slice, tolist(), tostring() -> bytes, comparison with lists — no __iter__ (Python iterates it
  through __getitem__), no buffer protocol and no getClass(). Any other object is an autoclass proxy, which has
  getClass(). A Java exception is raised as `JavaException("JVM exception occurred: <message> <class name>")`
  (jnius_utils.pxi check_exception). `autoclass("android.os.Build$VERSION").SDK_INT` is a plain int.
* Android — android.os.Build.VERSION.SDK_INT is the running system's level (Build.java: SystemProperties
  "ro.build.version.sdk"); Context.RECEIVER_EXPORTED = 0x2, RECEIVER_NOT_EXPORTED = 0x4 (API 33); on Android 14
  (API 34) ActivityManagerService.registerReceiverWithFeature throws SecurityException "<package>: One of
  RECEIVER_EXPORTED or RECEIVER_NOT_EXPORTED should be specified when a receiver isn't being registered
  exclusively for system broadcasts" when an app targeting 34 registers without either flag; the three-argument
  registerReceiver(receiver, filter, flags) exists from API 26.
* python-for-android — android/permissions.py request_permissions(permissions, callback) calls
  callback(permissions, grant_results) later, with booleans; android/storage.py app_storage_path().
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

RECEIVER_EXPORTED, RECEIVER_NOT_EXPORTED = 0x2, 0x4
ANDROID_14 = 34


class JavaException(Exception):
    def __init__(self, message: str, classname: str):
        super().__init__(f"JVM exception occurred: {message} {classname}")
        self.classname, self.innermessage = classname, message


class ByteArray:
    """pyjnius's conversion of a Java byte[] (jnius_nativetypes3.pxi), built from the SIGNED Java bytes."""

    def __init__(self, java_bytes: list[int]):
        self._arr = [b & 0xFF for b in java_bytes]      # <unsigned char *><signed char *>buf

    def __str__(self):
        return f"<ByteArray size={len(self._arr)} at 0x{id(self)}>"

    def __len__(self):
        return len(self._arr)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._arr[i] for i in range(*index.indices(len(self._arr)))]
        return self._arr[index]

    def __eq__(self, other):
        if isinstance(other, (list, tuple)):
            return self.tolist() == list(other)
        if isinstance(other, ByteArray):
            return self.tostring() == other.tostring()
        return False

    __hash__ = None

    def tolist(self):
        return list(self[:])

    def tostring(self):
        return bytes(self._arr)


class JByteArray:
    """A Java byte[] as a Java app puts it in an extra (signed values); pyjnius hands it back as a ByteArray."""

    def __init__(self, data: bytes):
        self.signed = [b - 256 if b > 127 else b for b in data]


class _Class:
    def __init__(self, name):
        self._name = name

    def getName(self):
        return self._name


def _to_python(value):
    """convert_jobject_to_python for a value typed Object."""
    if isinstance(value, JByteArray):
        return ByteArray(value.signed)
    return value


class Bundle:
    def __init__(self, values: dict | None = None):
        self.values = dict(values or {})

    def getClass(self):
        return _Class("android.os.Bundle")

    def keySet(self):
        keys = list(self.values)
        return types.SimpleNamespace(toArray=lambda: keys)

    def get(self, key):
        return _to_python(self.values.get(key))

    def getByteArray(self, key):
        value = self.values.get(key)
        return ByteArray(value.signed) if isinstance(value, JByteArray) else None

    # what the app writes (send_broadcast): kept as plain Python to be read back by the test
    def putString(self, key, value):
        self.values[key] = str(value)

    def putInt(self, key, value):
        self.values[key] = int(value)

    def putBoolean(self, key, value):
        self.values[key] = bool(value)

    def putBundle(self, key, value):
        self.values[key] = value

    def putStringArray(self, key, value):
        self.values[key] = list(value)

    def putParcelableArray(self, key, value):
        self.values[key] = list(value)

    def putParcelableArrayList(self, key, value):
        self.values[key] = value

    def plain(self) -> dict:
        def conv(v):
            if isinstance(v, Bundle):
                return v.plain()
            if isinstance(v, ArrayList):
                return [conv(x) for x in v.items]
            if isinstance(v, list):
                return [conv(x) for x in v]
            return v
        return {k: conv(v) for k, v in self.values.items()}


class ArrayList:
    def __init__(self, items=None):
        self.items = list(items or [])

    def getClass(self):
        return _Class("java.util.ArrayList")

    def add(self, item):
        self.items.append(item)

    def size(self):
        return len(self.items)

    def get(self, i):
        return _to_python(self.items[i])


class Intent:
    def __init__(self, action: str, extras: dict | None = None):
        self.action, self.extras = action, Bundle(extras)

    def getAction(self):
        return self.action

    def getExtras(self):
        return self.extras

    def putExtra(self, key, value):
        self.extras.values[key] = value

    def putParcelableArrayListExtra(self, key, value):
        self.extras.values[key] = value


class IntentFilter:
    def __init__(self):
        self.actions, self.categories = [], []

    def addAction(self, action):
        self.actions.append(action)

    def addCategory(self, category):
        self.categories.append(category)


class GenericBroadcastReceiver:
    def __init__(self, callback):
        self.callback = callback


class Activity:
    """PythonActivity.mActivity: a Context on a device running `sdk_int`, for an app targeting `target_sdk`."""

    def __init__(self, sdk_int: int, target_sdk: int = 34, package: str = "org.ticketgate.ticketgate"):
        self.sdk_int, self.target_sdk, self.package = sdk_int, target_sdk, package
        self.receivers: list[tuple[GenericBroadcastReceiver, IntentFilter, int]] = []
        self.sent: list[tuple[str, dict]] = []

    def getPackageName(self):
        return self.package

    def registerReceiver(self, receiver, intent_filter, flags=None):
        if flags is not None and self.sdk_int < 26:
            raise JavaException("No methods matching your arguments", "jnius")
        flags = flags or 0
        if self.sdk_int >= ANDROID_14 and self.target_sdk >= ANDROID_14 \
                and not flags & (RECEIVER_EXPORTED | RECEIVER_NOT_EXPORTED):
            raise JavaException(f"{self.package}: One of RECEIVER_EXPORTED or RECEIVER_NOT_EXPORTED should be "
                                "specified when a receiver isn't being registered exclusively for system broadcasts",
                                "java.lang.SecurityException")
        self.receivers.append((receiver, intent_filter, flags))

    def unregisterReceiver(self, receiver):
        self.receivers = [r for r in self.receivers if r[0] is not receiver]

    def sendBroadcast(self, intent):
        self.sent.append((intent.getAction(), intent.getExtras().plain()))

    def deliver(self, intent: Intent, from_other_app: bool = True) -> int:
        """Android delivering a broadcast: to receivers whose filter has the action (exported ones only when
        the sender is another app, like DataWedge). Returns how many received it."""
        n = 0
        for receiver, intent_filter, flags in list(self.receivers):
            if intent.getAction() in intent_filter.actions and not (from_other_app and flags & RECEIVER_NOT_EXPORTED):
                receiver.callback.onReceive(self, intent)
                n += 1
        return n


class StandInAndroid:
    """Installs the stand-ins in sys.modules (and removes them): `jnius`, `android`, `android.permissions`,
    `android.storage`. `permission_requests` keeps (permissions, callback) for the test to answer."""

    def __init__(self, sdk_int: int, storage: Path | None = None, target_sdk: int = 34):
        self.activity = Activity(sdk_int, target_sdk)
        self.storage = storage
        self.permission_requests: list[tuple[list[str], object]] = []
        self.multicast_locks: list[str] = []
        self._saved: dict[str, object] = {}

    def autoclass(self, name: str):
        activity, outer = self.activity, self
        classes = {
            "android.os.Build$VERSION": types.SimpleNamespace(SDK_INT=activity.sdk_int),
            "org.kivy.android.PythonActivity": types.SimpleNamespace(mActivity=activity),
            "android.content.Context": types.SimpleNamespace(WIFI_SERVICE="wifi", VIBRATOR_SERVICE="vibrator",
                                                             RECEIVER_EXPORTED=RECEIVER_EXPORTED,
                                                             RECEIVER_NOT_EXPORTED=RECEIVER_NOT_EXPORTED),
            "android.content.IntentFilter": IntentFilter,
            "org.kivy.android.GenericBroadcastReceiver": GenericBroadcastReceiver,
            "android.content.Intent": Intent,
            "android.os.Bundle": Bundle,
            "java.util.ArrayList": ArrayList,
            "java.util.Locale": types.SimpleNamespace(
                getDefault=lambda: types.SimpleNamespace(getLanguage=lambda: "fr")),
        }
        if name not in classes:
            raise JavaException(f"Class not found b'{name.replace('.', '/')}'", "java.lang.ClassNotFoundException")
        if name == "org.kivy.android.PythonActivity":
            activity.getApplicationContext = lambda: activity
            activity.getSystemService = lambda service: outer._service(service)
        return classes[name]

    def _service(self, service):
        if service == "wifi":
            def lock(tag):
                self.multicast_locks.append(tag)
                return types.SimpleNamespace(setReferenceCounted=lambda flag: None, acquire=lambda: None)
            return types.SimpleNamespace(createMulticastLock=lock)
        return None

    def modules(self) -> dict[str, types.ModuleType]:
        jnius = types.ModuleType("jnius")
        jnius.autoclass = self.autoclass
        jnius.cast = lambda name, obj: obj
        jnius.JavaException = JavaException

        class PythonJavaClass:
            pass
        jnius.PythonJavaClass = PythonJavaClass
        jnius.java_method = lambda signature, name=None: (lambda fn: fn)
        android = types.ModuleType("android")
        android.__path__ = []
        permissions = types.ModuleType("android.permissions")
        permissions.Permission = types.SimpleNamespace(
            CAMERA="android.permission.CAMERA", VIBRATE="android.permission.VIBRATE",
            ACCESS_WIFI_STATE="android.permission.ACCESS_WIFI_STATE",
            CHANGE_WIFI_MULTICAST_STATE="android.permission.CHANGE_WIFI_MULTICAST_STATE")
        permissions.request_permissions = lambda perms, callback=None: self.permission_requests.append((perms, callback))
        storage = types.ModuleType("android.storage")
        storage.app_storage_path = lambda: str(self.storage)
        return {"jnius": jnius, "android": android, "android.permissions": permissions, "android.storage": storage}

    def __enter__(self):
        for name, module in self.modules().items():
            self._saved[name] = sys.modules.get(name)
            sys.modules[name] = module
        return self

    def __exit__(self, *exc):
        for name, module in self._saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
