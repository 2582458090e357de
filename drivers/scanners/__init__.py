"""Laser / imager scanners: Zebra DataWedge and Bluebird broadcasts, keyboard wedges (HID, evdev, serial).

Every source turns raw input into `ScanRead` (text to give to Gate.scan) or `IgnoredRead` (with a reason):
garbage bytes and half codes are ignored with a reason, never raised."""
