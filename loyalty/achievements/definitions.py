"""The achievements a program defines (GA-01, GA-04), as its plugins answer them, checked.

The `achievements` hook is declarative and pure, so the definitions are asked for
where they are needed (a payment, a payout, a read) and checked each time; start-up
checks them once too (plugins.manager.build), so a mistake in plugins.toml or in a
partner's plugin stops the gateway with a message naming the plugin and the id.
"""

from __future__ import annotations

from loyalty.errors import PluginFailure
from loyalty.facts import AchievementDefinition
from loyalty.programs import Program

PURCHASE_PAID = "purchase_paid"
EVENT_ATTENDED = "event_attended"
CATEGORY = "category"
REFERRAL_REWARDED = "referral_rewarded"
CUSTOM = "custom"

COUNTS = (PURCHASE_PAID, EVENT_ATTENDED, CATEGORY, REFERRAL_REWARDED, CUSTOM)
# The facts each kind of count is made of: purchases (GA-03 applies), or referrals.
FROM_PURCHASES = (PURCHASE_PAID, EVENT_ATTENDED, CATEGORY)

ID_LENGTH = 64  # achievement_unlock.achievement_id
TITLE_LENGTH = 200


class InvalidAchievement(ValueError):
    """A definition the gateway cannot use; the message names the plugin and the achievement."""


def problems(found: list[AchievementDefinition]) -> list[str]:
    """What is wrong with a program's definitions, one sentence each; empty when all is well."""
    wrong: list[str] = []
    seen: dict[str, str | None] = {}
    for definition in found:
        where = f"achievement {definition.id!r}" + (f" of plugin {definition.plugin}" if definition.plugin else "")
        if not isinstance(definition.id, str) or not definition.id.strip() or len(definition.id) > ID_LENGTH:
            wrong.append(f"{where}: the id must be 1 to {ID_LENGTH} characters")
        elif definition.id in seen:
            other = seen[definition.id]
            wrong.append(f"{where}: the id is defined twice" + (f" (also by plugin {other})" if other else ""))
        seen.setdefault(definition.id, definition.plugin)
        if (
            not isinstance(definition.title, str)
            or not definition.title.strip()
            or len(definition.title) > TITLE_LENGTH
        ):
            wrong.append(f"{where}: the title must be 1 to {TITLE_LENGTH} characters")
        if definition.counts not in COUNTS:
            wrong.append(f"{where}: counts {definition.counts!r} is none of {', '.join(COUNTS)}")
        elif (definition.counts == CUSTOM) is not (definition.count is not None):
            wrong.append(f"{where}: a count function is given exactly when counts is {CUSTOM!r}")
        if not _whole(definition.goal) or definition.goal < 1:
            wrong.append(f"{where}: the goal must be a whole number of at least 1, not {definition.goal!r}")
        if not _whole(definition.reward_bonus) or definition.reward_bonus < 0:
            wrong.append(f"{where}: reward_bonus must be a whole number of at least 0")
        for name in ("window_days", "reward_valid_days"):
            value = getattr(definition, name)
            if value is not None and (not _whole(value) or value < 1):
                wrong.append(f"{where}: {name} must be None or a whole number of days of at least 1")
    return wrong


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(program: Program) -> list[AchievementDefinition]:
    """The program's definitions; InvalidAchievement naming every problem (start-up uses this)."""
    found = program.rules.achievements()
    wrong = problems(found)
    if wrong:
        raise InvalidAchievement(f"program {program.id}: " + "; ".join(wrong))
    return found


def definitions(program: Program) -> list[AchievementDefinition]:
    """The program's achievements (GA-01), in plugins.toml order; [] where none are defined.

    A definition that start-up did not see and that is wrong (a plugin answering
    differently later) refuses the operation like a failing plugin (PL-03).
    """
    try:
        return check(program)
    except InvalidAchievement as error:
        raise PluginFailure("achievements", str(error)) from None
