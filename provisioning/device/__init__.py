"""Device side of provisioning."""
