"""Storage: one SQLAlchemy metadata, an engine pair and Alembic migrations."""

from openplug.db.engine import Database

__all__ = ["Database"]
