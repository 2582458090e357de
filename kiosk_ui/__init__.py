"""The Kivy app of ticketgate: door scanning and kiosk screens.

Layers (outside in): `screens/` (Kivy widgets, render state and forward intents) ->
`presenters/` (pure view-models, no Kivy) -> `services.py` (Protocols) -> `door.py` (the core
agent) and `adapters/` (drivers, sync, provisioning when present on this build).
"""
