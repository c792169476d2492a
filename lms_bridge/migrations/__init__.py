"""Alembic migrations for the store, configured in code so that an installed package finds them.

Use :func:`lms_bridge.store.schema.upgrade` (or ``lms-bridge db upgrade``); there is no alembic.ini.
Developers regenerate or add revisions with :func:`lms_bridge.store.schema.revision`.
"""
