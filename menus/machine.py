"""Compile a menu's screens into one transitions Machine, built once at load.

States are screen ids; triggers are ``key:<digits>`` for choices, ``valid`` for inputs and
``outcome:<name>`` for actions. Sessions never get a machine of their own: the engine only
reads the machine's transition table, so walking a session costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transitions import Machine

from menus.spec import ActionScreen, ChoiceScreen, InputScreen, ScreenSpec

VALID_INPUT = "valid"


def choice_trigger(key: str) -> str:
    return f"key:{key}"


def outcome_trigger(outcome: str) -> str:
    return f"outcome:{outcome}"


def build_machine(start: str, screens: Mapping[str, ScreenSpec]) -> Any:
    moves: list[dict[str, str]] = []
    for screen in screens.values():
        if isinstance(screen, ChoiceScreen):
            moves.extend(
                {"trigger": choice_trigger(o.key), "source": screen.id, "dest": o.next}
                for o in screen.options
            )
        elif isinstance(screen, InputScreen):
            moves.append({"trigger": VALID_INPUT, "source": screen.id, "dest": screen.next})
        elif isinstance(screen, ActionScreen):
            moves.extend(
                {"trigger": outcome_trigger(name), "source": screen.id, "dest": target}
                for name, target in screen.outcomes.items()
            )
    # model=[]: no object carries session state; auto_transitions off so no "to_x" triggers.
    return Machine(
        model=[],
        states=list(screens),
        initial=start,
        transitions=moves,
        auto_transitions=False,
        send_event=False,
    )


def destination(machine: Any, source: str, trigger: str) -> str | None:
    """Where ``trigger`` leads from screen ``source``, or None if it leads nowhere."""
    event = machine.events.get(trigger)
    if event is None:
        return None
    moves = event.transitions.get(source)
    if not moves:
        return None
    dest: str = moves[0].dest
    return dest
