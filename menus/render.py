"""Compose the full text of a screen in one language (before paging). Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from menus.spec import PLACEHOLDER, ActionScreen, ChoiceScreen, ScreenSpec, Text


def pick(text: Text, language: str, fallbacks: Sequence[str]) -> str:
    """The text in ``language``, else in the first fallback language that has it."""
    found = text.get(language)
    if found is not None:
        return found
    for fallback in fallbacks:
        found = text.get(fallback)
        if found is not None:
            return found
    return next(iter(text.values()))


def fill(template: str, variables: Mapping[str, str]) -> str:
    """Replace {name} placeholders; an unknown name becomes empty rather than showing braces."""
    if "{" not in template:
        return template
    return PLACEHOLDER.sub(lambda match: variables.get(match.group(1), ""), template)


def screen_text(
    screen: ScreenSpec,
    language: str,
    fallbacks: Sequence[str],
    variables: Mapping[str, str],
    notice: str = "",
) -> str:
    lines = [notice] if notice else []
    if not isinstance(screen, ActionScreen):
        lines.append(fill(pick(screen.text, language, fallbacks), variables))
    if isinstance(screen, ChoiceScreen):
        lines.extend(
            f"{option.key} {fill(pick(option.label, language, fallbacks), variables)}"
            for option in screen.options
        )
    return tidy("\n".join(lines))


def tidy(text: str) -> str:
    """Trailing spaces and empty lines cost characters the subscriber never sees."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())
