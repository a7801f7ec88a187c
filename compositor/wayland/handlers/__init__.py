"""One module per Wayland protocol; each exposes ``register(server)``."""
