"""Reserver's core: resources, availability and reservations that never double-book."""
