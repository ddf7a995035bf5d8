"""Instance ids, user names and passwords: generated at random and validated strictly.

Anything that ends up in an nginx config file, a file name or a command line passes one of the
validators here first; a value that fails never reaches a file.
"""

from __future__ import annotations

import re
import secrets
import string

#: Instance ids become URL path segments, nginx location/upstream names and file names.
INSTANCE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
#: User names go into htpasswd lines (`user:hash`) and basic-auth headers.
USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: CORS origins a renter allows go into the location's config: scheme, host, optional port.
ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::[0-9]{1,5})?")
ANY_ORIGIN = "*"

DEFAULT_USER = "erigolem"
PASSWORD_ALPHABET = string.ascii_letters + string.digits  # URL-, shell- and htpasswd-safe
PASSWORD_LENGTH = 24  # 24 * log2(62) = 142.9 bits
MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 256


def new_password() -> str:
    """A random password of 24 characters from [A-Za-z0-9] (about 143 bits of entropy)."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def new_user() -> str:
    """The basic-auth user name of a new instance (fixed: each instance has its own file)."""
    return DEFAULT_USER


def new_instance_id() -> str:
    """A random instance id (16 hex digits, 64 bits) that passes `validate_instance_id`."""
    return secrets.token_hex(8)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_instance_id(value: object) -> str:
    """Return `value` if it is a safe instance id, else raise ValueError saying what is allowed."""
    if not isinstance(value, str) or INSTANCE_ID_RE.fullmatch(value) is None:
        raise ValueError(
            f"invalid instance id {_shown(value)}: use 3-63 characters of lower-case letters, "
            "digits and '-', starting with a letter or digit"
        )
    return value


def validate_user(value: object) -> str:
    """Return `value` if it is a safe basic-auth user name, else raise ValueError."""
    if not isinstance(value, str) or USER_RE.fullmatch(value) is None:
        raise ValueError(
            f"invalid user name {_shown(value)}: use 1-64 characters of letters, digits, "
            "'.', '_' and '-', starting with a letter or digit"
        )
    return value


def validate_password(value: object) -> str:
    """Return `value` if it is an acceptable password (printable ASCII, no spaces, 16-256 chars)."""
    if not isinstance(value, str):
        raise ValueError("invalid password: not a string")
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"invalid password: {len(value)} characters, need {MIN_PASSWORD_LENGTH}-"
            f"{MAX_PASSWORD_LENGTH} (use new_password())"
        )
    if not all(33 <= ord(ch) <= 126 for ch in value):
        raise ValueError("invalid password: only printable ASCII without spaces is allowed")
    return value


def validate_origins(value: object) -> tuple[str, ...]:
    """The renter's allowed CORS origins as a tuple; `()` means any origin (the default).

    Accepts None, "*", or a list of origins like "https://app.example:8443"; raises
    ValueError naming the bad entry otherwise (the values reach nginx's config).
    """
    if value is None or value == ANY_ORIGIN:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError(
            'allow_origins must be "*" or a non-empty list of origins like "https://app.example"'
        )
    out: list[str] = []
    for item in value:
        if item == ANY_ORIGIN:
            return ()
        if not isinstance(item, str) or ORIGIN_RE.fullmatch(item) is None:
            raise ValueError(
                f"invalid origin {_shown(item)} in allow_origins: use scheme://host[:port] "
                '(e.g. "https://app.example"), no path, or "*" for any origin'
            )
        out.append(item.lower())
    return tuple(dict.fromkeys(out))
