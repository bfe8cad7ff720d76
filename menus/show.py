"""The tree of one menu as text, for `ussd-gateway menus show CODE`."""

from __future__ import annotations

from menus.render import pick
from menus.spec import ActionScreen, ChoiceScreen, EndScreen, InputScreen, Menu, MenuSet


def show_menu(menus: MenuSet, code: str, language: str) -> str:
    """Raises KeyError if no menu has ``code`` ("111", "*111#" and "111#" all work)."""
    digits = code.strip().strip("*#")
    menu = menus.menus.get(digits)
    if menu is None:
        raise KeyError(f"no menu for code {code!r}")
    lines = [f"*{menu.code}#  ({menu.file}; languages {', '.join(menu.languages)})"]
    _show(menu, menu.start, language, 0, "", set(), lines)
    return "\n".join(lines)


def _show(
    menu: Menu, sid: str, language: str, depth: int, via: str, seen: set[str], lines: list[str]
) -> None:
    indent = "  " * depth
    screen = menu.screens[sid]
    if sid in seen:
        lines.append(f"{indent}{via}{sid} (see above)")
        return
    seen.add(sid)
    if isinstance(screen, ActionScreen):
        params = "".join(f" {k}={v}" for k, v in screen.params.items())
        lines.append(f"{indent}{via}{sid}: action {screen.action}{params}")
        for outcome, target in screen.outcomes.items():
            _show(menu, target, language, depth + 1, f"[{outcome}] -> ", seen, lines)
        return
    text = pick(screen.text, language, menu.languages).replace("\n", " / ")
    lines.append(f"{indent}{via}{sid}: {screen.kind} \"{text}\"")
    if isinstance(screen, ChoiceScreen):
        for option in screen.options:
            label = pick(option.label, language, menu.languages)
            _show(menu, option.next, language, depth + 1, f"{option.key} {label} -> ", seen, lines)
    elif isinstance(screen, InputScreen):
        rule = screen.validator.kind
        _show(menu, screen.next, language, depth + 1, f"<{screen.name}: {rule}> -> ", seen, lines)
    else:
        assert isinstance(screen, EndScreen)
