"""The wallet's error family: each says what happened (`str(exc)`) and what to do (`hint`)."""

from __future__ import annotations

from erigolem_desktop.core.errors import HintedError


class WalletError(HintedError):
    """A wallet failure a user can act on. `exit_code` is what the CLI exits with."""

    exit_code = 1


class WrongPassphrase(WalletError):
    """The passphrase did not decrypt the keystore; nothing was changed."""

    exit_code = 3

    def __init__(
        self,
        message: str = "The passphrase is wrong; nothing was changed.",
        hint: str = "Check the keyboard layout and Caps Lock, then type it again.",
    ) -> None:
        super().__init__(message, hint)


class KeystoreCorrupt(WalletError):
    """The stored keystore cannot be read (damaged, truncated, or for another address)."""

    DEFAULT_HINT = (
        "Remove the account and import it again from its recovery phrase (mnemonic) "
        "or from a keystore backup file."
    )

    def __init__(self, message: str, hint: str = DEFAULT_HINT) -> None:
        super().__init__(message, hint)


class KeyringUnavailable(WalletError):
    """No usable OS keyring backend (none installed, locked, or the fail backend chosen)."""

    exit_code = 4
    DEFAULT_HINT = (
        "Install and unlock the Secret Service (e.g. gnome-keyring or KeePassXC), or choose a "
        "backend with PYTHON_KEYRING_BACKEND (e.g. "
        "erigolem_desktop.core.keyring_setup.DataDirKeyring)."
    )

    def __init__(self, message: str, hint: str = DEFAULT_HINT) -> None:
        super().__init__(message, hint)


class WalletLocked(WalletError):
    """A signing call was made while no account is unlocked (or it auto-locked)."""

    def __init__(
        self,
        message: str = "The wallet is locked.",
        hint: str = "Unlock an account with its passphrase first.",
    ) -> None:
        super().__init__(message, hint)


class UnknownAccount(WalletError):
    """The address is not one of the wallet's accounts."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"There is no account {address} in this wallet.",
            "List the accounts with `erigolem wallet list`, or import the key first.",
        )
        self.address = address
