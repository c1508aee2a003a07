"""The web: the person's pages (routes.py), sessions, and shared browser security."""
