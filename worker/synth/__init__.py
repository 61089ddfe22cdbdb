"""Synthetic hand-printed forms: the project's own test and demo material (no fetched data)."""
