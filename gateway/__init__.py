"""Composition: the Starlette app, settings, auth, database start-up and the CLI."""
