"""``erigolem-provider check`` on the plugin descriptor and presets.json when they are missing,
malformed or unreadable: one error each, naming the file and what to do."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from erigolem_provider.checks import check_setup
from erigolem_provider.layout import Layout
from erigolem_provider.prereqs import Finding
from erigolem_runtime.api import RUNTIME_NAME


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.for_root(tmp_path)


def findings_for(layout: Layout, subject: str) -> list[Finding]:
    return [f for f in check_setup(layout) if f.subject == subject]


def _malformed(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"presets": [')


def _not_utf8(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xfe[\x00")


def _directory(path: Path) -> None:
    path.mkdir(parents=True)  # reading it fails with IsADirectoryError, even as root


FAULTS: list[Callable[[Path], None]] = [_malformed, _not_utf8, _directory]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(
    ("subject", "advice"),
    [
        ("plugin descriptor", "run setup again"),
        ("pricing", "fix or remove it, then run setup again"),
    ],
)
def test_unreadable_file_is_one_error_with_its_advice(
    layout: Layout, subject: str, advice: str, fault: Callable[[Path], None]
) -> None:
    path = layout.descriptor_path if subject == "plugin descriptor" else layout.presets_path
    fault(path)
    [finding] = findings_for(layout, subject)
    assert finding.level == "error"
    assert f"{path} is unreadable (" in finding.message
    assert finding.message.endswith(f"): {advice}")


@pytest.mark.parametrize("subject", ["plugin descriptor", "pricing"])
def test_missing_file_says_run_setup_again(layout: Layout, subject: str) -> None:
    path = layout.descriptor_path if subject == "plugin descriptor" else layout.presets_path
    [finding] = findings_for(layout, subject)
    assert finding.level == "error"
    assert finding.message == f"{path} is missing: run setup again"


def test_valid_json_of_the_wrong_shape_is_named_as_such(layout: Layout) -> None:
    layout.plugins_dir.mkdir(parents=True)
    layout.descriptor_path.write_text(json.dumps({"name": RUNTIME_NAME}))  # not an array
    layout.presets_path.parent.mkdir(parents=True, exist_ok=True)
    layout.presets_path.write_text(json.dumps(["not", "a", "dict"]))
    [desc] = findings_for(layout, "plugin descriptor")
    assert f"has no runtime named {RUNTIME_NAME}" in desc.message
    [pricing] = findings_for(layout, "pricing")
    assert f"no active preset for runtime {RUNTIME_NAME}" in pricing.message


def test_descriptor_with_missing_runtime_binary(layout: Layout, tmp_path: Path) -> None:
    layout.plugins_dir.mkdir(parents=True)
    entry = {"name": RUNTIME_NAME, "runtime-path": str(tmp_path / "nope")}
    layout.descriptor_path.write_text(json.dumps([entry]))
    errors = [f for f in findings_for(layout, "plugin descriptor") if f.level == "error"]
    assert len(errors) == 1
    assert "is missing or not executable" in errors[0].message
