"""The attestation rules as plain Python: no Flask, no HTTP, no database.

Everything here takes its inputs (clock, settings, records) as arguments so it can be tested and
reused by the CLI, the admin page and the background jobs alike.
"""
