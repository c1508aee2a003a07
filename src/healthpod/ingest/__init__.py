"""Ingest: one parser per format, one pipeline (ingest/run.py) that stores what they yield.

Shared pieces stay at this level: `base` (the items and the importer contract), `registry`
(which importer reads a file), `run` (an import's life), `reader_process` (parsing in a second
process), `safe_files`, `zip_inflate` and `units`. Each source family has its own package:
`apple/`, `fhir/`, `fit/`, `vendors/`, `csv/`.
"""
