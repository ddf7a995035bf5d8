"""Password files: the hash nginx checks on every request, file mode and group."""

from __future__ import annotations

import grp
from pathlib import Path

from passlib.hash import apr_md5_crypt, ldap_salted_sha1

from erigolem_runtime.config import DEFAULT_HASH_SCHEME, HASH_SCHEMES, NginxConfig
from erigolem_runtime.nginx.errors import NginxError

_SSHA = ldap_salted_sha1.using(salt_size=16)  # nginx takes any salt after the 20-byte digest


def hash_password(password: str, scheme: str = DEFAULT_HASH_SCHEME) -> str:
    """The htpasswd hash of `password`: {SSHA} (default, 16-byte salt) or apr1.

    Both verify cheaply in nginx, which re-hashes on every request; why {SSHA} is strong
    enough for our random passwords is explained at `config.DEFAULT_HASH_SCHEME`.
    """
    if scheme == "ssha":
        return str(_SSHA.hash(password))
    if scheme == "apr1":
        return str(apr_md5_crypt.hash(password))
    raise ValueError(f"unknown hash scheme {scheme!r}: use one of {', '.join(HASH_SCHEMES)}")


class Htpasswd:
    """How this config's password files are written (hash scheme, 0600 or 0640 + group)."""

    def __init__(self, nginx: NginxConfig) -> None:
        self._nginx = nginx

    def line(self, user: str, password: str) -> str:
        """One `user:hash` line (user and password already validated)."""
        return f"{user}:{hash_password(password, self._nginx.hash_scheme)}\n"

    @property
    def mode(self) -> int:
        return 0o640 if self._nginx.htpasswd_group else 0o600

    @property
    def dir_mode(self) -> int:
        return 0o750 if self._nginx.htpasswd_group else 0o700

    def gid(self, path: Path) -> int | None:
        """The group a password file gets (system nginx workers must read it), else None."""
        group = self._nginx.htpasswd_group
        if group is None or path.suffix != ".htpasswd":
            return None
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            raise NginxError(
                f"nginx.htpasswd_group {group!r} does not exist on this host: create it or "
                "set the group nginx's workers run as (e.g. www-data)"
            ) from None
