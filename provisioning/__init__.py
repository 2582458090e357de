"""Provisioning: discovery (zeroconf), one-QR enrollment, per-device broker credentials, revocation.

`provisioning.server` runs on the organiser's machine (enrollment endpoint, token registry, mosquitto
password/ACL files, advertiser, QR sheets); `provisioning.device` runs on the door device.
"""
