"""Figures of a bench run -> results/<date>-<scenario>.json and a Markdown table."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(),
            "python": sys.version.split()[0], "system": platform.platform(), "loadgen_loop": loop}


def derive(run: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one run (None where the run did not produce them)."""
    closed = run["load"].get("closed") or {}
    open_ = run["load"].get("open") or {}
    cpu = run["cpu"].get("closed") or {}
    steps = int(closed.get("steps") or 0)
    wall = float(cpu.get("wall_s") or 0)
    return {
        "steps_per_s": closed.get("steps_per_s"),
        "offered_steps_per_s": round(float(open_["steps_per_s"]), 1) if open_ else None,
        "p50_ms": open_.get("p50_ms"), "p95_ms": open_.get("p95_ms"),
        "p99_ms": open_.get("p99_ms"),
        "saturated_p99_ms": closed.get("p99_ms"),
        "cpu_ms_per_step": round(cpu["sut_cpu_s"] / steps * 1000, 3) if steps and cpu else None,
        "sut_cpu_cores": round(cpu["sut_cpu_s"] / wall, 2) if wall else None,
        "loadgen_cpu_cores": round(cpu["loadgen_cpu_s"] / wall, 2) if wall else None,
        "errors": sum(int(phase.get(k) or 0) for phase in (closed, open_)
                      for k in ("timeouts", "wrong", "unexpected")),
    }


def write_results(date: str, scenario: str, document: dict[str, Any],
                  directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{date}-{scenario}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _cell(value: object, fmt: str = "{}") -> str:
    return "-" if value is None else fmt.format(value)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per scenario and store."""
    head = ("| scenario | store | steps/s | vs echo | p50 ms | p95 ms | p99 ms | at steps/s "
            "| CPU ms/step | gateway cores | loadgen cores | errors |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        figures = row["figures"]
        ratio = row.get("echo_ratio")
        lines.append("| " + " | ".join([
            row["scenario"], row["store"],
            _cell(figures["steps_per_s"], "{:,.0f}"),
            _cell(None if ratio is None else ratio * 100, "{:.0f}%"),
            _cell(figures["p50_ms"], "{:.1f}"), _cell(figures["p95_ms"], "{:.1f}"),
            _cell(figures["p99_ms"], "{:.1f}"),
            _cell(figures["offered_steps_per_s"], "{:,.0f}"),
            _cell(figures["cpu_ms_per_step"], "{:.3f}"),
            _cell(figures["sut_cpu_cores"], "{:.2f}"),
            _cell(figures["loadgen_cpu_cores"], "{:.2f}"),
            str(figures["errors"]),
        ]) + " |")
    return "\n".join(lines)


def memory_table(figures: list[dict[str, Any]]) -> str:
    lines = ["| sessions held in | idle live sessions | bytes per session | total MiB |",
             "|---|---|---|---|"]
    for entry in figures:
        lines.append(f"| {entry['store']} | {entry['sessions']:,} | "
                     f"{entry['bytes_per_session']:.0f} | {entry['total_mib']:.1f} |")
    return "\n".join(lines)
