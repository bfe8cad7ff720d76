"""The standards the project holds itself to, checked with every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = run(str(BIN / "ruff"), "check", "ussd_gateway", "smpp", "menus", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_go_one_way() -> None:
    """menus and smpp import neither each other nor ussd_gateway (ARCHITECTURE.md)."""
    offenders = []
    for package, forbidden in (("menus", ("smpp", "ussd_gateway")),
                               ("smpp", ("menus", "ussd_gateway"))):
        for path in sorted((REPO / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(tuple(f"from {name}" for name in forbidden)) or \
                        stripped.startswith(tuple(f"import {name}" for name in forbidden)):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {stripped}")
    assert offenders == []
