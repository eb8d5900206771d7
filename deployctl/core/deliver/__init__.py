"""Automatic delivery: the next deploy and promotion to propose, as data."""
