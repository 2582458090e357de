"""ticketgate door agent: ticket format, ledger, check-in decisions and sync.

The public face is small: decode/verify a payload (`agent.ticket_format`), decide a
verdict (`agent.decision.decide`), and run a door (`agent.gate.Gate`). Nothing here
imports Kivy, OpenCV or MQTT: the scan path stays light.
"""
