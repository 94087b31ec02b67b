"""The scenarios, in the order `make bench` runs them (each adds its lines to the context)."""
