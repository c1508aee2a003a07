"""Sharing with people: SMART Health Links."""
