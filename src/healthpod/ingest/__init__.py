"""Ingest: one parser per format, one pipeline (ingest/run.py) that stores what they yield."""
