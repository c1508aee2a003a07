"""Imports as jobs: an upload is saved with a state file, queued, and run by a worker.

`state` is a job's record on disk (its files, their progress, what each import did);
`runner` runs one job; `queue` hands a job to whoever runs it: a thread of the server on
SQLite (the laptop mode), or the PostgreSQL queue that `healthpod worker` processes serve
(`worker`, built on procrastinate).
"""
