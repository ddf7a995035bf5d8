"""The runtime's version as SemVer: what the plugin descriptor and the hello reply carry.

One place for it (``server.py`` and ``offer.py`` used to fall back to different versions).
"""

from __future__ import annotations

import re
from importlib import metadata

#: Version reported when the package metadata is missing (a source tree run without install).
FALLBACK_VERSION = "0.0.0"

_PEP440 = re.compile(
    r"^(?:\d+!)?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|b|c|rc|alpha|beta|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?(?:post|rev|r)[-_.]?(?P<post>\d*)|-(?P<post2>\d+))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev>\d*))?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?$",
    re.IGNORECASE,
)
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_semver(version: str) -> bool:
    """True for a SemVer 2.0 string (what ya-provider's descriptor parser accepts)."""
    return _SEMVER.match(version) is not None


def semver_of(version: str) -> str:
    """A SemVer 2.0 form of a PEP 440 version, keeping its order where SemVer can.

    ya-provider parses the descriptor's ``version`` with the ``semver`` crate and drops the whole
    file when it does not parse, so ``0.1.0.dev1`` must become ``0.1.0-dev.1``. The release is
    padded or cut to three numbers (extra parts go to the build metadata), pre/dev releases
    become SemVer pre-releases, post releases and local labels become build metadata.
    Anything that is not PEP 440 either maps to ``0.0.0+unknown``.
    """
    if is_semver(version):
        return version
    m = _PEP440.match(version.strip())
    if m is None:
        return f"{FALLBACK_VERSION}+unknown"
    nums = [str(int(n)) for n in m.group("release").split(".")]
    core, extra = [*nums, "0", "0"][:3], nums[3:]
    pre: list[str] = []
    if m.group("pre"):
        tag = {"a": "alpha", "b": "beta", "c": "rc", "pre": "rc", "preview": "rc"}.get(
            m.group("pre").lower(), m.group("pre").lower()
        )
        pre += [tag, str(int(m.group("pre_n") or 0))]
    if m.group("dev") is not None:
        pre += ["dev", str(int(m.group("dev") or 0))]
    build: list[str] = []
    if extra:
        build += ["r" + "-".join(extra)]
    post = m.group("post") if m.group("post") is not None else m.group("post2")
    if post is not None:
        build += ["post" + str(int(post or 0))]
    if m.group("local"):
        build += [re.sub(r"[-_.]+", ".", m.group("local")).replace(".", "-")]
    out = ".".join(core) + ("-" + ".".join(pre) if pre else "")
    return out + ("+" + ".".join(build) if build else "")


def runtime_version() -> str:
    """The installed ``erigolem-runtime`` version as SemVer (the descriptor and hello carry it)."""
    try:
        raw = metadata.version("erigolem-runtime")
    except metadata.PackageNotFoundError:
        return FALLBACK_VERSION
    return semver_of(raw)
