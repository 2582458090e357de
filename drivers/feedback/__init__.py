"""Accept / reject / attention feedback at the door: sounds, colours, vibration. `mapping` is pure."""
