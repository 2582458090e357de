"""Helpers shared by the drivers' tests and benchmarks (not used by the app): signed demo tickets, a QR image
of a payload, a local TCP printer that captures bytes. Real parts only: real keys, real rendering, real sockets."""
