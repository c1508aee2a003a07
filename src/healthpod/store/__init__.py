"""The store: SQLAlchemy Core tables on SQLite or PostgreSQL."""
