"""Alembic environment: runs on the connection healthpod hands it (see store/migrate.py)."""

from __future__ import annotations

from alembic import context

from healthpod.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` run by hand, e.g. `alembic revision --autogenerate`
    from healthpod.store.engine import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
if connection.in_transaction():
    connection.commit()
