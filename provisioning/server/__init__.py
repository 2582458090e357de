"""Organiser side of provisioning."""
