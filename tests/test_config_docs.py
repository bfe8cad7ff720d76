"""docs/configuration.md documents every key the config reader accepts, and only those.

The keys are not listed by hand here: the real reader is run on a config that takes every
branch (both connection modes, an operator token, dialect options) with ``Table`` recording
each key it looks up, which are exactly the keys ``reject_unknown`` lets through. A check on
``ussd_gateway/config.py``'s syntax tree makes sure that run reached every place that reads a
key, so a key added in a branch the run misses fails here too.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from ussd_gateway import config as config_module
from ussd_gateway.config import load_config, parse_config
from ussd_gateway.config_reader import Table

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "docs" / "configuration.md"
CONFIG_SOURCE = Path(config_module.__file__).resolve()
# The Table methods that read (or look for) a key.
READERS = frozenset(
    {"text", "integer", "number", "flag", "texts", "integers", "secret", "table", "tables", "has"})
ENV = {"USSD_GATEWAY_SECRET_KEY": "k" * 32}

# (table path without array indices, key): ("smpp.connections", "port"); ("", "gateway").
Key = tuple[str, str]


def shipped() -> dict[str, Any]:
    return tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))


def every_branch() -> dict[str, Any]:
    """The shipped config plus what it leaves out, so that every part of the reader runs."""
    raw = shipped()
    # Inline: a set token_env would leave token unread (and refused if given beside it).
    raw["http"]["admin_tokens"] = [{"name": "ops", "token": "t" * 32}]
    raw["smpp"]["connections"].append({
        "name": "ussdc-in", "mode": "smsc", "listen": "127.0.0.1:0", "system_id": "ussdc",
        "password": "secret", "allow": ["10.0.0.0/8"],
        "dialect_options": {"service_type": "USSD", "first_request_without_op": True,
                            "latin_data_coding": 0}})
    return raw


def split_key(dotted: str) -> Key:
    path, _, name = re.sub(r"\[\d*\]", "", dotted).rpartition(".")
    return path, name


def join_key(key: Key) -> str:
    return f"{key[0]}.{key[1]}" if key[0] else key[1]


class ReadRecorder:
    """Which keys the reader looks up, and from which lines of config.py."""

    def __init__(self) -> None:
        self.keys: set[Key] = set()
        self.lines: set[int] = set()

    def note(self, table: Table, name: str) -> None:
        self.keys.add(split_key(table.key(name)))
        frame = sys._getframe(1)
        while frame.f_back is not None and Path(frame.f_code.co_filename) != CONFIG_SOURCE:
            frame = frame.f_back
        if Path(frame.f_code.co_filename) == CONFIG_SOURCE:
            self.lines.add(frame.f_lineno)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        get, has = Table._get, Table.has

        def recording_get(table: Table, name: str, *args: Any, **kwargs: Any) -> Any:
            self.note(table, name)
            return get(table, name, *args, **kwargs)

        def recording_has(table: Table, name: str) -> bool:
            self.note(table, name)
            return has(table, name)

        monkeypatch.setattr(Table, "_get", recording_get)
        monkeypatch.setattr(Table, "has", recording_has)


@pytest.fixture(scope="module")
def accepted(tmp_path_factory: pytest.TempPathFactory) -> ReadRecorder:
    recorder = ReadRecorder()
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder.install(monkeypatch)
        parse_config(every_branch(), base_dir=tmp_path_factory.mktemp("config"), environ=ENV)
    return recorder


def reference_sections(text: str) -> dict[str, set[str]]:
    """Table path -> the keys in its rows. A heading names its tables in backticks
    (`[sms]`, `[[smpp.connections]]`, `simulator.dialect_options`); a row names its key in
    the first cell."""
    sections: dict[str, set[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            current = [re.sub(r"\[\d*\]", "", name.strip("[]"))
                       for name in re.findall(r"`([^`]+)`", line)]
            for path in current:
                sections.setdefault(path, set())
        elif row := re.match(r"\|\s*`([^`]+)`\s*\|", line):
            for path in current:
                sections[path].add(row.group(1))
    return sections


def undocumented(keys: set[Key], text: str) -> list[str]:
    """A key is documented by a row in its table's section, a table also by its own section."""
    sections = reference_sections(text)
    return sorted(join_key(key) for key in keys
                  if key[1] not in sections.get(key[0], set()) and join_key(key) not in sections)


def not_read(keys: set[Key], text: str) -> list[str]:
    tables = {join_key(key) for key in keys}
    stray = [path for path in reference_sections(text) if path not in tables]
    stray += [f"{path}.{name}" for path, names in reference_sections(text).items()
              for name in names if (path, name) not in keys]
    return sorted(stray)


def toml_keys(table: Mapping[str, Any], path: str = "") -> Iterator[Key]:
    for name, value in table.items():
        yield path, name
        inner = f"{path}.{name}" if path else name
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                yield from toml_keys(item, inner)


def reader_calls() -> list[ast.Call]:
    tree = ast.parse(CONFIG_SOURCE.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in READERS]


def test_every_key_the_reader_accepts_is_in_the_reference(accepted: ReadRecorder) -> None:
    assert undocumented(accepted.keys, REFERENCE.read_text(encoding="utf-8")) == []


def test_the_reference_documents_no_key_the_reader_refuses(accepted: ReadRecorder) -> None:
    assert not_read(accepted.keys, REFERENCE.read_text(encoding="utf-8")) == []


def test_every_place_config_py_reads_a_key_was_reached(accepted: ReadRecorder) -> None:
    missed = [f"config.py:{call.lineno}: {ast.unparse(call)}" for call in reader_calls()
              if not any(call.lineno <= line <= (call.end_lineno or call.lineno)
                         for line in accepted.lines)]
    assert missed == [], "extend every_branch() in this test so the reader reaches these"
    # The recorder did see the reader at work, in every table.
    assert {("", "gateway"), ("http.admin_tokens", "token_env"), ("smpp.connections", "listen"),
            ("smpp.connections.dialect_options", "session_id"), ("linking", "weekend")
            } <= accepted.keys


def test_a_key_left_out_of_the_reference_is_named(accepted: ReadRecorder) -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `batch_size` |"))
    assert undocumented(accepted.keys, text.replace(row + "\n", "")) == ["sms.batch_size"]
    heading = "## `[[http.admin_tokens]]`"
    assert heading in text
    assert undocumented(accepted.keys, text.replace(heading, "## Operator tokens")) == [
        "http.admin_tokens.name", "http.admin_tokens.token", "http.admin_tokens.token_env"]


def test_the_shipped_config_loads_and_each_of_its_keys_is_documented() -> None:
    config = load_config(REPO / "config.toml", environ=ENV)
    assert config.connections and config.sms.connection == config.connections[0].name
    keys = set(toml_keys(shipped()))
    assert ("sms", "lease_seconds") in keys
    assert undocumented(keys, REFERENCE.read_text(encoding="utf-8")) == []


def test_the_readme_and_config_toml_point_at_the_reference() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert "docs/configuration.md" in configuration
    header = (REPO / "config.toml").read_text(encoding="utf-8").split("\n[", 1)[0]
    assert "docs/configuration.md" in header
