"""What each scenario dials, and what a correct answer to each step looks like.

The load generator counts a step only when the answer is the screen the subscriber should see:
an error screen answered fast must not pass for throughput. Markers are substrings of the
shipped menus' Russian texts (the bench subscribers are seeded with language "ru").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    text: str  # what the handset sends (the dialed code, or a reply)
    final: bool  # whether the answer must end the dialogue (op 17)
    marker: str  # a substring of the expected screen


Dialogue = tuple[Step, ...]

BALANCE = Step("*100#", True, "Ваш баланс")
SCENARIOS: dict[str, tuple[Dialogue, ...]] = {
    "balance": ((BALANCE,),),
    "password": ((Step("*111*25#", True, "Пароль придёт в SMS"),),),
    "walk": ((Step("*111#", False, "Личный кабинет"),
              Step("828", False, "Управление номерами (бесплатно)"),
              Step("1", True, "Управление номерами")),),
    "toggle": ((Step("*111*828*1#", True, "Управление номерами"),),
               (Step("*111*828*0#", True, "Управление номерами"),)),
    "echo": ((Step("*100#", True, "Balance: 100.00"),),),
}


def steps_per_dialogue(scenario: str) -> float:
    dialogues = SCENARIOS[scenario]
    return sum(len(d) for d in dialogues) / len(dialogues)


def marker_bytes(marker: str) -> tuple[bytes, ...]:
    """The marker as it can appear in short_message: UCS2, or unpacked GSM 7 / Latin."""
    forms = [marker.encode("utf-16-be")]
    if marker.isascii():
        forms.append(marker.encode("ascii"))
    return tuple(forms)
