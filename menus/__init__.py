"""Menus an operator edits without code: TOML files, loaded and checked, run by a sans-IO engine."""

from menus.engine import ActionCall, MenuEngine, Screen, Step
from menus.errors import MenuError, MenuProblem
from menus.limits import ScreenLimits
from menus.loader import check_menus, load_menus
from menus.show import show_menu
from menus.spec import MenuSet
from menus.state import SessionState

__all__ = [
    "ActionCall",
    "MenuEngine",
    "MenuError",
    "MenuProblem",
    "MenuSet",
    "Screen",
    "ScreenLimits",
    "SessionState",
    "Step",
    "check_menus",
    "load_menus",
    "show_menu",
]
