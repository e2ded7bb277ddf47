"""The built-in achievements (GA-04): First ticket, Regular, Ambassador, Explorer.

Enabled per program in plugins.toml; every title, description, goal, window and reward
is a setting, each defaulting to the value below, and any of them can be turned off::

    [plugins.achievements]
    programs = ["live-brighter"]
    [plugins.achievements.settings.regular]
    title = "Regular"
    reward_bonus = 500
    [plugins.achievements.settings.explorer]
    enabled = false

A partner defines achievements of its own in its own plugin, with the same hook
(plugins/hookspecs.py, ``achievements``).
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from loyalty.facts import AchievementDefinition
from plugins.hookspecs import hookimpl

BUILT_IN = {
    "first_ticket": AchievementDefinition(
        id="first-ticket",
        title="First ticket",
        description="Your first paid purchase",
        goal=1,
        counts="purchase_paid",
        reward_bonus=100,
    ),
    "regular": AchievementDefinition(
        id="regular",
        title="Regular",
        description="Tickets to 5 different events within 365 days",
        goal=5,
        counts="event_attended",
        window_days=365,
        reward_bonus=500,
    ),
    "ambassador": AchievementDefinition(
        id="ambassador",
        title="Ambassador",
        description="3 friends rewarded for a first purchase through your link",
        goal=3,
        counts="referral_rewarded",
        reward_bonus=300,
    ),
    "explorer": AchievementDefinition(
        id="explorer",
        title="Explorer",
        description="Events in 3 different categories",
        goal=3,
        counts="category",
        reward_bonus=200,
    ),
}


class Tuning(BaseModel):
    """One built-in achievement's settings; what is not given keeps its default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=500)
    goal: int | None = Field(default=None, ge=1)
    window_days: int | None = Field(default=None, ge=1)
    reward_bonus: int | None = Field(default=None, ge=0)
    reward_valid_days: int | None = Field(default=None, ge=1)


class Achievements:
    """GA-04: the four built-in achievements, as plugins.toml tunes them."""

    class Settings(BaseModel):
        """`[plugins.achievements.settings]`: one table per built-in achievement."""

        model_config = ConfigDict(extra="forbid")

        first_ticket: Tuning = Tuning()
        regular: Tuning = Tuning()
        ambassador: Tuning = Tuning()
        explorer: Tuning = Tuning()

    def __init__(self, settings: Settings) -> None:
        self.defined = [
            replace(BUILT_IN[name], **tuning.model_dump(exclude={"enabled"}, exclude_none=True))
            for name in BUILT_IN
            if (tuning := getattr(settings, name)).enabled
        ]

    @hookimpl
    def achievements(self) -> list[AchievementDefinition]:
        """GA-04: the built-in achievements that are enabled, with their settings."""
        return list(self.defined)
