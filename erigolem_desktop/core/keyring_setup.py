"""Choose the keyring backend explicitly, so the app never prompts, hangs or fails silently.

Why: on a headless Linux box `keyring`'s default is either the *fail* backend (no Secret
Service, every call raises) or, with keyrings.alt / keyrings.cryptfile installed, a chainer whose
first backend asks for a master password through `getpass` (EOFError without a TTY; a hang in a
GUI). Both seen on Debian bookworm with keyring 25 (keyrings.alt 5.0, keyrings.cryptfile 1.3).

Decision (`ensure_keyring()`), in this order:

1. An explicit choice wins: `PYTHON_KEYRING_BACKEND`, a `keyringrc.cfg`, or a backend already
   set in code with `keyring.set_keyring()` (tests). Explicitly choosing the fail or null
   backend raises `KeyringUnavailable` (the null one would silently drop the wallet's keys),
   and so does a file backend that rewrites its file in place (keyrings.alt's PlaintextKeyring
   and EncryptedKeyring, keyrings.cryptfile): one kill mid-write there truncates the file and
   loses every key in it (issue 11: 16-19 of 30 keystores gone after one SIGKILL), so the app
   refuses them and names `DataDirKeyring`, the atomic file store below, instead.
2. Otherwise the platform's own store if it is usable: macOS Keychain, Windows Credential
   Locker, the Secret Service or KWallet on Linux (picked out of the chainer, skipping
   backends that prompt).
3. Otherwise (typically Linux without a running Secret Service) a file backend that never
    prompts: `DataDirKeyring`, a JSON file under `data_dir()/keyring/` (0600, atomic writes; our
   own rather than keyrings.alt's PlaintextKeyring, which rewrites its file in place).
   Temp files a kill left behind (`.keyring.json.*.tmp`, which hold keystores) are removed when
   the store is first used; a service entry that is not an object is moved to
   `keyring.set-aside.json` (0600) with a warning rather than failing every read. The choice
   is written to `keyring/backend`, so later runs use the file store without keyring's slow
   backend detection (an explicit choice, step 1, still wins). `ERIGOLEM_KEYRING_FALLBACK=0` disables this step; then
   `KeyringUnavailable` says how to get a real keyring.

What that file holds, and why this is acceptable:
- wallet entries are keystore v3 JSON, already encrypted with scrypt under the user's
  passphrase (the same thing geth keeps in `~/.ethereum/keystore`); the file adds no exposure;
- node passwords are plain secrets, so `SecretStore` (secrets.py) does NOT write them raw into a
  plain-text backend: it encrypts them with AES-256-GCM under a random key in
  `data_dir()/keyring/secret-store.key` (0600). Honest limit: that key sits on the same disk under
  the same user, so this keeps node passwords out of a copied or synced keyring file, out of
  grep and out of logs, but not away from malware running as the user — which is also true of an
  unlocked Secret Service, where any process of the user may read every item. The passwords are
  random per node and rotatable (`run rotate-credentials`), and open only that node's endpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.core
from erigolem_runtime.api.files import atomic_write, locked
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringError, PasswordDeleteError
from keyrings.alt.file import PlaintextKeyring

from erigolem_desktop.core.paths import data_dir
from erigolem_desktop.core.wallet_errors import KeyringUnavailable

log = logging.getLogger(__name__)

FALLBACK_ENV = "ERIGOLEM_KEYRING_FALLBACK"
KEYRING_SUBDIR = "keyring"

# Backends that ask for a master password on first use (getpass): never chosen implicitly.
_PROMPTING = {
    "keyrings.alt.file.EncryptedKeyring",
    "keyrings.cryptfile.cryptfile.CryptFileKeyring",
    "keyrings.cryptfile.file.EncryptedKeyring",
}
# The platform stores we prefer, by module prefix.
_OS_MODULES = (
    "keyring.backends.macOS",
    "keyring.backends.Windows",
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
)


def keyring_dir() -> Path:
    """Where the fallback keyring file and the secret-store key live (created 0700)."""
    path = data_dir() / KEYRING_SUBDIR
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class DataDirKeyring(KeyringBackend):
    """A file keyring under the app's data dir: one JSON file, 0600, atomic writes, no prompts.

    Values are stored as given, so only for entries that are encrypted already (keystores) or
    wrapped by SecretStore; see the module docstring. Writes go through a temp file and a rename
    (a crash never tears the file and loses every wallet at once) under an advisory lock (several
    `erigolem` processes may write). Loadable by name:
    PYTHON_KEYRING_BACKEND=erigolem_desktop.core.keyring_setup.DataDirKeyring.
    """

    priority = 0.1  # never auto-selected by keyring itself

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._swept: set[Path] = set()

    @property
    def file_path(self) -> Path:
        return keyring_dir() / "keyring.json"

    @property
    def set_aside_path(self) -> Path:
        return keyring_dir() / "keyring.set-aside.json"

    def sweep(self) -> None:
        """Remove temp copies a killed writer left (they hold keystores); once per directory.

        Done under the write lock (every writer holds it while its temp file exists), so no
        live writer's temp file is taken away.
        """
        directory = self.file_path.parent
        if directory in self._swept:
            return
        with self._locked():
            self._swept.add(directory)
            for stale in directory.glob(f".{self.file_path.name}.*.tmp"):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    log.info("keyring: removed %s, left by an interrupted write", stale.name)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.file_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as exc:
            raise KeyringError(
                f"the keyring file {self.file_path} cannot be read ({type(exc).__name__}); "
                "restore it from a backup, or move it away and import the accounts again"
            ) from None
        if not isinstance(data, dict):
            raise KeyringError(
                f"the keyring file {self.file_path} is not a JSON object; restore it from a "
                "backup, or move it away and import the accounts again"
            )
        return data

    def _load(self) -> dict[str, dict[str, str]]:
        """The services that are well-formed (service -> {user: value}); others are skipped."""
        return self._load_from(self._read())

    def _load_for_write(self) -> dict[str, dict[str, str]]:
        """Like `_load`, but damaged entries are first saved to the set-aside file (not lost)."""
        raw = self._read()
        good = self._load_from(raw)
        damaged = {
            service: users
            for service, users in raw.items()
            if service not in good or good[service] != users
        }
        if damaged:
            aside = self._read_set_aside()
            aside.update({f"{s}@{_now_stamp()}": v for s, v in damaged.items()})
            atomic_write(self.set_aside_path, json.dumps(aside, indent=1, sort_keys=True))
            log.warning(
                "keyring: set aside %d damaged entr%s of %s in %s",
                len(damaged),
                "y" if len(damaged) == 1 else "ies",
                self.file_path.name,
                self.set_aside_path,
            )
        return good

    @staticmethod
    def _load_from(raw: dict[str, Any]) -> dict[str, dict[str, str]]:
        return {
            service: {u: v for u, v in users.items() if isinstance(v, str)}
            for service, users in raw.items()
            if isinstance(users, dict)
        }

    def _read_set_aside(self) -> dict[str, Any]:
        try:
            data = json.loads(self.set_aside_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with locked(keyring_dir() / "keyring.lock"):
            yield

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._locked():
            data = self._load_for_write()
            data.setdefault(service, {})[username] = password
            atomic_write(self.file_path, json.dumps(data, indent=1, sort_keys=True))

    def delete_password(self, service: str, username: str) -> None:
        with self._locked():
            data = self._load_for_write()
            if username not in data.get(service, {}):
                raise PasswordDeleteError(f"no entry for {username} in {service}")
            del data[service][username]
            if not data[service]:
                del data[service]
            atomic_write(self.file_path, json.dumps(data, indent=1, sort_keys=True))


def _now_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


# File backends that rewrite their file in place (open 'w', then write): a kill in between
# leaves a truncated file and loses every key in it. Refused (module docstring, step 1).
_NON_ATOMIC = ("keyrings.cryptfile.",)


def rewrites_in_place(backend: keyring.backend.KeyringBackend) -> bool:
    """True for a backend known to write its store non-atomically (refused by ensure_keyring)."""
    from keyrings.alt.file_base import Keyring as FileBackedKeyring

    return isinstance(backend, FileBackedKeyring) or backend_name(backend).startswith(_NON_ATOMIC)


def backend_name(backend: keyring.backend.KeyringBackend) -> str:
    """The fully qualified class name, as PYTHON_KEYRING_BACKEND spells it."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def stores_plaintext(backend: keyring.backend.KeyringBackend | None = None) -> bool:
    """True when the backend writes values as they are into a file (SecretStore then encrypts)."""
    backend = backend if backend is not None else keyring.get_keyring()
    return isinstance(backend, PlaintextKeyring | DataDirKeyring)


def _explicit_choice() -> str | None:
    """The backend name the user configured (env or keyringrc.cfg), if any."""
    env = os.environ.get("PYTHON_KEYRING_BACKEND")
    if env:
        return env
    try:
        from keyring.util import platform_

        cfg = Path(platform_.config_root()) / "keyringrc.cfg"
        if cfg.is_file() and "default-keyring" in cfg.read_text(encoding="utf-8"):
            return str(cfg)
    except OSError:
        return None
    return None


def _is_unusable(backend: keyring.backend.KeyringBackend) -> bool:
    return isinstance(backend, fail.Keyring | null.Keyring)


def _is_chainer(backend: keyring.backend.KeyringBackend) -> bool:
    return backend_name(backend) == "keyring.backends.chainer.ChainerBackend"


def _os_backend_from(backends: Any) -> keyring.backend.KeyringBackend | None:
    """The best platform store among `backends` (highest priority), skipping prompting ones."""
    candidates = []
    for b in backends:
        name = backend_name(b)
        if name in _PROMPTING or not name.startswith(_OS_MODULES):
            continue
        try:
            prio = float(b.priority)
        except Exception:  # noqa: S112 - a backend that cannot tell its priority is not viable
            continue
        if prio > 0:
            candidates.append((prio, b))
    if not candidates:
        return None
    best: keyring.backend.KeyringBackend = max(candidates, key=lambda pair: pair[0])[1]
    return best


def _unavailable(detail: str) -> KeyringUnavailable:
    return KeyringUnavailable(f"No usable keyring for the wallet: {detail}.")


CHOICE_FILE = "backend"
"""`keyring_dir()/backend` names the store step 3 chose, so later runs skip keyring's backend
detection (it loads every plugin and probes each: ~0.3 s, the bulk of a short CLI command).
Kept on purpose even if a Secret Service appears later: the keys are in the file store."""


def _remembered_file_store() -> bool:
    """Whether step 3 chose the file store here before, and nothing overrides that now."""
    if os.environ.get(FALLBACK_ENV, "1") == "0" or _explicit_choice() is not None:
        return False
    if getattr(keyring.core, "_keyring_backend", None) is not None:  # set in code (tests)
        return False
    try:
        return (data_dir() / KEYRING_SUBDIR / CHOICE_FILE).read_text().strip() == "DataDirKeyring"
    except OSError:
        return False


def ensure_keyring() -> str:
    """Select a non-prompting keyring backend (see the module docstring); return its name.

    Idempotent and cheap after the first call. Raises KeyringUnavailable with the way out.
    """
    if _remembered_file_store():
        remembered = DataDirKeyring()
        keyring.set_keyring(remembered)
        remembered.sweep()
        return backend_name(remembered)
    try:
        current = keyring.get_keyring()
    except Exception as exc:  # a bad PYTHON_KEYRING_BACKEND / keyringrc.cfg fails here
        raise _unavailable(f"the configured keyring backend cannot be loaded ({exc})") from exc

    explicit = _explicit_choice()
    if isinstance(current, DataDirKeyring):
        current.sweep()
        return backend_name(current)  # its path follows data_dir() on every call
    if rewrites_in_place(current):
        raise _unavailable(
            f"the configured backend {backend_name(current)} rewrites its file in place, so a "
            "crash or kill while it writes can lose every stored key; use "
            "PYTHON_KEYRING_BACKEND=erigolem_desktop.core.keyring_setup.DataDirKeyring "
            "(the same idea, written atomically) or the platform's keyring"
        )
    if explicit is not None and not _is_chainer(current):
        if _is_unusable(current):
            raise _unavailable(f"the configured backend {backend_name(current)} cannot store keys")
        return backend_name(current)

    if _is_chainer(current):
        chosen = _os_backend_from(getattr(current, "backends", []))
        if chosen is not None:
            keyring.set_keyring(chosen)
            log.info("keyring: using %s", backend_name(chosen))
            return backend_name(chosen)
    elif not _is_unusable(current) and backend_name(current) not in _PROMPTING:
        return backend_name(current)  # set in code (tests) or a platform store

    if os.environ.get(FALLBACK_ENV, "1") == "0":
        raise _unavailable(
            f"{backend_name(current)} is the only backend and the file fallback is disabled "
            f"({FALLBACK_ENV}=0)"
        )
    try:
        keyring_dir()
    except OSError as exc:
        raise _unavailable(f"the data directory is not writable ({exc.strerror})") from exc
    fallback = DataDirKeyring()
    keyring.set_keyring(fallback)
    atomic_write(keyring_dir() / CHOICE_FILE, "DataDirKeyring\n", mode=0o600)
    log.info(
        "keyring: no platform keyring usable on %s; using the file fallback under %s",
        sys.platform,
        keyring_dir(),
    )
    return backend_name(fallback)
