"""What the program running the menus promises them: its actions, the outcomes each may end
with, the placeholder values each outcome fills, and the values every screen can show.

The gateway declares these next to its action code (ussd_gateway/actions.py); the checks read
them, so a menu that maps an outcome no action returns, leaves one unhandled, or shows a
placeholder nothing fills is refused at load instead of misleading a subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from menus.messages import DEFAULT_OUTCOME_MESSAGES

# Outcomes every action may end with; a menu need not map them (they have shared screens).
SHARED_OUTCOMES = frozenset(DEFAULT_OUTCOME_MESSAGES)


@dataclass(frozen=True)
class Returns:
    """One outcome of an action: when it happens and the placeholder values it fills
    (name -> what the value holds)."""

    when: str
    values: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionContract:
    """The outcomes an action ends with (besides the shared ones) and the ``params`` it needs
    (name -> what to give)."""

    outcomes: Mapping[str, Returns]
    params: Mapping[str, str] = field(default_factory=dict)

    def returns(self, outcome: str) -> bool:
        return outcome in self.outcomes or outcome in SHARED_OUTCOMES

    def values_of(self, outcome: str) -> frozenset[str]:
        returned = self.outcomes.get(outcome)
        return frozenset(returned.values) if returned is not None else frozenset()


@dataclass(frozen=True)
class MenuContract:
    """Every action by name, and the values filled from the first screen on
    (``dial_values``: what the gateway passes to ``MenuEngine.begin``)."""

    actions: Mapping[str, ActionContract]
    dial_values: Mapping[str, str] = field(default_factory=dict)


def actions_table(contract: MenuContract) -> str:
    """The Markdown table of actions menus/README.md shows, one row per outcome."""
    rows = [
        "| action | outcome | when | placeholders |",
        "| --- | --- | --- | --- |",
    ]
    for name, action in contract.actions.items():
        shown_name = f"`{name}`" + "".join(f" (`params.{param}`)" for param in action.params)
        for outcome, returned in action.outcomes.items():
            values = "; ".join(
                f"`{{{value}}}` {meaning}".rstrip() for value, meaning in returned.values.items()
            )
            rows.append(f"| {shown_name} | `{outcome}` | {returned.when} | {values or 'none'} |")
    return "\n".join(rows)
