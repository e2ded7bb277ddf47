"""The programs of RULES.md, shipped as plugins configured in plugins.toml like any partner's (PL-05)."""
