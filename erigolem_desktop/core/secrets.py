"""Node passwords in the OS keyring, keyed by node id (`SecretStore`).

On a real platform keyring (Keychain, Credential Locker, Secret Service) the password is stored
as it is: that store is the protection. On a plain-text file backend (the headless fallback
`DataDirKeyring`; keyrings.alt's PlaintextKeyring is refused, see keyring_setup.py) a raw
password would sit in plain text on disk, so it is sealed first with AES-256-GCM under a random 256-bit key kept in
`data_dir()/keyring/secret-store.key` (0600). That keeps node passwords out of a copied keyring
file, out of grep and out of logs; it does not stop malware running as the same user, who can
read the key file too (keyring_setup.py's docstring discusses this choice). Sealed values look
like `erigolem-sealed:v1:<base64>` and are opened transparently by `get`. AES-GCM comes from
`cryptography` (pycryptodome, which wrote the same layout before, costs ~0.1 s to load: a
large share of a short `erigolem rpc`).
"""

from __future__ import annotations

import base64
import logging
import os
import re
from pathlib import Path

import keyring
from keyring.errors import PasswordDeleteError

from erigolem_desktop.core.keyring_setup import ensure_keyring, keyring_dir, stores_plaintext
from erigolem_desktop.core.keystore_vault import keyring_call
from erigolem_desktop.core.wallet_errors import KeystoreCorrupt, WalletError

log = logging.getLogger(__name__)

SERVICE = "erigolem-node"
KEY_FILE = "secret-store.key"
_SEALED_PREFIX = "erigolem-sealed:v1:"
_NODE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _key_path() -> Path:
    return keyring_dir() / KEY_FILE


def _seal_key(create: bool) -> bytes | None:
    """The sealing key (created 0600 on first use when `create`), or None when absent."""
    path = _key_path()
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        return key
    if len(key) != 32:
        raise KeystoreCorrupt(
            f"The node-password key file {path} is damaged.",
            "Stop the nodes and start them again: new passwords are then stored.",
        )
    return key


def seal(value: str) -> str:
    """`value` encrypted under the local sealing key (AES-256-GCM, random nonce)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _seal_key(create=True)
    if key is None:  # create=True always yields a key; this keeps the type checker honest
        raise KeystoreCorrupt("The node-password key file could not be created.")
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), None)  # ciphertext + 16-byte tag
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return _SEALED_PREFIX + base64.b64encode(nonce + tag + ciphertext).decode("ascii")


def unseal(stored: str) -> str:
    """The plain value of a sealed string (or `stored` itself when it is not sealed)."""
    if not stored.startswith(_SEALED_PREFIX):
        return stored
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = _seal_key(create=False)
    blob = base64.b64decode(stored[len(_SEALED_PREFIX) :])
    if key is None or len(blob) < 28:
        raise KeystoreCorrupt(
            "A node password cannot be opened: its key file is missing or the entry is damaged.",
            "Rotate the node's credentials (or restart the node) to store a new password.",
        )
    try:  # layout: nonce (12) + tag (16) + ciphertext, as pycryptodome wrote it before
        return AESGCM(key).decrypt(blob[:12], blob[28:] + blob[12:28], None).decode("utf-8")
    except InvalidTag:
        raise KeystoreCorrupt(
            "A node password cannot be opened: it was sealed with another key file.",
            "Rotate the node's credentials (or restart the node) to store a new password.",
        ) from None


def validate_node_id(node_id: str) -> str:
    """`node_id` when it is a safe keyring user name; WalletError otherwise."""
    if not _NODE_ID_RE.match(node_id):
        raise WalletError(f"{node_id!r} is not a valid node id.", "Use letters, digits, _ . -")
    return node_id


class SecretStore:
    """Node passwords by node id, in the keyring chosen by `ensure_keyring()`."""

    def __init__(self, service: str = SERVICE, *, choose_backend: bool = True) -> None:
        if choose_backend:
            ensure_keyring()
        self.service = service

    def set(self, node_id: str, password: str) -> None:
        """Store (or replace) the password of `node_id`."""
        validate_node_id(node_id)
        kr = keyring.get_keyring()
        value = seal(password) if stores_plaintext(kr) else password
        keyring_call("store a node password", kr.set_password, self.service, node_id, value)
        log.debug("secrets: stored the password of node %s", node_id)

    def get(self, node_id: str) -> str | None:
        """The password of `node_id`, or None when none is stored."""
        validate_node_id(node_id)
        kr = keyring.get_keyring()
        value = keyring_call("read a node password", kr.get_password, self.service, node_id)
        return None if value is None else unseal(str(value))

    def delete(self, node_id: str) -> None:
        """Forget the password of `node_id` (no error when there is none)."""
        validate_node_id(node_id)
        kr = keyring.get_keyring()
        try:
            keyring_call("delete a node password", kr.delete_password, self.service, node_id)
        except PasswordDeleteError:
            return
        log.debug("secrets: deleted the password of node %s", node_id)
