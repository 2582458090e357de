"""Kivy screens: render view-models, forward intents to the controller. No business rule here."""
