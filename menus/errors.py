"""Problems found in menu files, and the one exception that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class MenuProblem:
    """One thing wrong with the menu files: where it is and why it is wrong."""

    file: str
    screen: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: screen {self.screen!r}" if self.screen else self.file
        return f"{where}: {self.reason}"


class MenuError(Exception):
    """Loading refused: the menu files have one or more problems."""

    def __init__(self, problems: Sequence[MenuProblem]) -> None:
        self.problems: list[MenuProblem] = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the menu files:\n{lines}")
