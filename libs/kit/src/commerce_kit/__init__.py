"""Plumbing shared by the services of the commerce suite (imported, never run)."""
