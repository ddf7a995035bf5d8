"""The shared message + hint error shape, as the CLI and the window read it."""

from __future__ import annotations

import pytest

from erigolem_desktop.cli import common
from erigolem_desktop.core.backends.base import BackendError
from erigolem_desktop.core.errors import HintedError
from erigolem_desktop.core.manager import ManagerError
from erigolem_desktop.core.records import StoreError
from erigolem_desktop.core.rpc import RpcError
from erigolem_desktop.core.settings import SettingsError
from erigolem_desktop.core.wallet_errors import WalletError, WrongPassphrase
from erigolem_desktop.ui.ops import describe_error


@pytest.mark.parametrize("cls", [BackendError, ManagerError, RpcError])
def test_one_line_classes_append_the_hint_to_str(cls: type[HintedError]) -> None:
    exc = cls("It broke.", "Do this.")
    assert str(exc) == "It broke. Do this."
    assert exc.args == ("It broke.",)
    assert (exc.message, exc.hint) == ("It broke.", "Do this.")
    assert str(cls("It broke.")) == "It broke."


@pytest.mark.parametrize("cls", [WalletError, StoreError, SettingsError, common.CliError])
def test_other_classes_keep_str_to_the_message(cls: type[HintedError]) -> None:
    exc = cls("It broke.", "Do this.")
    assert str(exc) == "It broke."
    assert exc.hint == "Do this."


def test_cli_and_window_split_message_and_hint() -> None:
    exc = ManagerError("No node abc.", "List them with `erigolem node list`.")
    assert common.describe(exc) == ("No node abc.", "List them with `erigolem node list`.", 1)
    assert describe_error(exc) == ("No node abc.", "List them with `erigolem node list`.")
    wrong = WrongPassphrase()
    assert common.describe(wrong)[2] == common.EXIT_WRONG_PASSPHRASE
    usage = common.UsageError("Bad flag.", "See --help.")
    assert (str(usage), usage.hint, usage.exit_code) == ("Bad flag.", "See --help.", 2)
