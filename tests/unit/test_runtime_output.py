"""The one parser of the runtime's JSON output (start output, `run status`) and how each
supervisor (RuntimeClient, the Golem service) wraps its errors in its own type."""

from __future__ import annotations

import pytest
from erigolem_runtime.api import NodeStatus, OutputError, RunOutcome, parse_output
from erigolem_runtime.api.client import RunResult, RuntimeClientError

from erigolem_desktop.core.backends.golem.service import StartOutputError, parse_node_json

NODE = '{"url": "https://p/x/", "auth": {"user": "u", "password": "p"}, "state": "ready"}'


def test_valid_node_output_parses_the_same_for_both_supervisors() -> None:
    assert parse_output(NODE, "status", node=True)["state"] == "ready"
    assert parse_node_json(NODE, "status") == NodeStatus.from_json(parse_output(NODE, "status"))
    assert RunResult(0, NODE.encode(), b"").json() == parse_output(NODE, "status")


def test_what_the_runtime_itself_prints_round_trips() -> None:
    obj = {"url": "u", "auth": {"user": "a", "password": "b"}, "peers": 3}
    printed = RunOutcome.ok_json(obj).stdout.decode()
    assert parse_output(printed, "status", node=True) == obj


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "printed nothing for status"),
        ("  \n", "printed nothing for status"),
        ("not json", "status is not JSON ("),
        ('{"url": "x"} trailing', "status is not JSON ("),
        ("[1]", "status is not a JSON object"),
        ('{"url": "x"}', "has no url/auth"),
        ('{"url": 1, "auth": {}}', "has no url/auth"),
        ('{"url": "x", "auth": {"user": 1}}', "has no user/password"),
        ('{"url": "x", "auth": {"user": "u"}}', "has no user/password"),
    ],
)
def test_bad_node_output_says_what_is_wrong(text: str | None, problem: str) -> None:
    with pytest.raises(OutputError, match=problem.replace("(", r"\(")):
        parse_output(text, "status", node=True)
    with pytest.raises(StartOutputError, match=problem.replace("(", r"\(")) as info:
        parse_node_json(text, "status")
    assert isinstance(info.value.__cause__, OutputError)


def test_plain_run_output_needs_no_node_fields_but_must_be_an_object() -> None:
    assert RunResult(0, b'{"argv": ["a"]}', b"").json() == {"argv": ["a"]}
    with pytest.raises(RuntimeClientError, match="output of run 'echo' is not JSON"):
        RunResult(0, b"plain\n", b"").json("output of run 'echo'")
    with pytest.raises(RuntimeClientError, match="not a JSON object"):
        RunResult(0, b"[]", b"").json()
    with pytest.raises(RuntimeClientError, match="printed nothing"):
        RunResult(0, b"", b"").json()


def test_error_text_never_repeats_a_password() -> None:
    broken = '{"auth": {"user": "u", "password": "s3cret-pw"}, "url": "x"'  # truncated
    with pytest.raises(OutputError) as info:
        parse_output(broken, "status", node=True)
    assert "s3cret-pw" not in str(info.value)
