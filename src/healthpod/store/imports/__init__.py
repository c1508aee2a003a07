"""Writing an import into the store: one transaction, batched inserts, de-duplication by the
tables' natural keys, the `imports` row, and the daily summaries kept up to date meanwhile.

`ingest/` parses files into the items of `items` and hands them to `transaction.begin_import`;
nothing outside this package writes samples. This package's `__init__` and `items` import
nothing heavy, so the reader process can build items without loading SQLAlchemy.
"""
