"""Virtual channel plug-ins of the active session; ``registry`` lists them."""
