"""plugins.toml: the programs the gateway runs and the plugins that make their rules.

Loaded and validated at start-up; any mistake stops start-up with a message naming
the program, plugin and setting at fault.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(Exception):
    """plugins.toml cannot be used; the message says where and why."""


class ProgramConfig(BaseModel):
    """`[programs.<id>]`: one program."""

    model_config = ConfigDict(extra="forbid")

    name: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    rules_url: str
    rules_version: str
    validity_days: int = Field(default=90, gt=0)
    organizers: list[str] = []
    owner: str | None = None
    tiers: list[str] = []
    checks_age: bool = False
    # "fixed": each credit burns validity_days after it activates (LB-04);
    # "rolling": each accrual extends the whole balance by validity_days (MG-06).
    expiry: Literal["fixed", "rolling"] = "fixed"

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value) or any(not tier.strip() for tier in value):
            raise ValueError("tiers must be distinct, non-empty names")
        return value


class PluginConfig(BaseModel):
    """`[plugins.<name>]`: one enabled plugin."""

    model_config = ConfigDict(extra="forbid")

    programs: list[str] = []
    optional: bool = False
    module: str | None = None
    # The partner whose rules these are (PartnerReport, PL-04); default: the owner of
    # the plugin's programs when they all have the same one.
    partner: str | None = None
    settings: dict[str, Any] = {}

    @field_validator("module")
    @classmethod
    def _module_path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[\w.]+:\w+", value):
            raise ValueError("module must look like 'package.module:ClassName'")
        return value


class PluginsFile(BaseModel):
    """The whole of plugins.toml."""

    model_config = ConfigDict(extra="forbid")

    programs: dict[str, ProgramConfig]
    plugins: dict[str, PluginConfig] = {}


def _where(error: dict[str, Any]) -> str:
    return ".".join(str(part) for part in error["loc"])


def load(path: str | Path) -> PluginsFile:
    """Read and validate plugins.toml; ConfigError with a precise message otherwise."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (set LOYALTY_PLUGINS to the plugins.toml to use)") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        config = PluginsFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{_where(e)}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{path}: {problems}") from None
    if not config.programs:
        raise ConfigError(f"{path}: no program is configured")
    for name, plugin in config.plugins.items():
        for program_id in plugin.programs:
            if program_id not in config.programs:
                raise ConfigError(f"{path}: plugins.{name}.programs: no program {program_id!r} is configured")
    return config
