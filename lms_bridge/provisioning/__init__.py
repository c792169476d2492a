"""Provisioning: a session's plan of named, journaled, idempotent steps."""
