"""Alembic revision files (loaded by Alembic, not imported)."""
