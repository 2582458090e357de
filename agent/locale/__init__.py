"""Translations (gettext .po files), shipped as package data."""
