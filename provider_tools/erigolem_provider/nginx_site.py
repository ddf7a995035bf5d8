"""The nginx side of a provider: our own server block, the include it may need, port conflicts.

Setup never rewrites the system ``nginx.conf``. The server block goes into ``conf.d/``; only when
the main config does not already include that directory inside ``http { }`` does setup add one
``include`` line there (and the review shows that diff first).
"""

from __future__ import annotations

import fnmatch
import glob
import re
from dataclasses import dataclass
from pathlib import Path

from erigolem_provider.layout import Layout

HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$"
)
IPV4_RE = re.compile(r"^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$")
SAFE_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+@-]*$")
INCLUDE_MARK = "# added by erigolem-provider"


class NginxConfError(Exception):
    """The system nginx configuration cannot be used as it is; the message says why."""


def valid_host(host: str) -> bool:
    """A DNS host name or an IPv4 address (what goes into ``server_name`` and the public URL)."""
    return bool(IPV4_RE.match(host)) or (
        bool(HOSTNAME_RE.match(host)) and not host.replace(".", "").isdigit()
    )


def safe_path(path: Path) -> bool:
    """Paths interpolated into nginx config: absolute, no spaces, quotes, semicolons or braces."""
    return bool(SAFE_PATH_RE.match(str(path)))


@dataclass(frozen=True)
class SiteSettings:
    """What the server block needs."""

    host: str
    port: int
    listen_address: str  # "" = all interfaces (IPv4 + IPv6)
    tls_cert: Path | None
    tls_key: Path | None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def server_block(site: SiteSettings, layout: Layout) -> str:
    """Our ``server { }``: listen port, optional TLS, security headers, the instances' include."""
    if not valid_host(site.host):
        raise ValueError(f"invalid host name {site.host!r}")
    if site.listen_address and not IPV4_RE.match(site.listen_address):
        raise ValueError(f"invalid listen address {site.listen_address!r}")
    for p in (layout.nginx_erigolem_dir, site.tls_cert, site.tls_key):
        if p is not None and not safe_path(p):
            raise ValueError(f"path {p} cannot be used in nginx config (use a plain absolute path)")
    ssl = " ssl" if site.tls else ""
    lines = [
        "# Managed by erigolem-provider: the public door to rented Erigon nodes.",
        "# Each running node adds one location file to the include directory below",
        "# (written by erigolem-runtime). Remove with `erigolem-provider uninstall`.",
        f"include {layout.include.http_dir}/*.conf;",
        "",
        "server {",
    ]
    if site.listen_address:
        lines.append(f"    listen {site.listen_address}:{site.port}{ssl};")
    else:
        lines.append(f"    listen {site.port}{ssl};")
        lines.append(f"    listen [::]:{site.port}{ssl};")
    lines += [
        f"    server_name {site.host};",
        "    server_tokens off;",
        "    client_max_body_size 16m;",
    ]
    if site.tls:
        lines += [
            f"    ssl_certificate {site.tls_cert};",
            f"    ssl_certificate_key {site.tls_key};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            "    ssl_prefer_server_ciphers off;",
            "    ssl_session_timeout 1d;",
            '    add_header Strict-Transport-Security "max-age=63072000" always;',
        ]
    lines += [
        '    add_header X-Content-Type-Options "nosniff" always;',
        '    add_header X-Frame-Options "DENY" always;',
        '    add_header Referrer-Policy "no-referrer" always;',
        "    add_header Content-Security-Policy \"default-src 'none'; frame-ancestors 'none'\" always;",
        "",
        "    # one location per rented node, /<instance>/ -> its client on 127.0.0.1",
        f"    include {layout.include.server_dir}/*.conf;",
        "",
        "    location / {",
        "        return 404;",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Reading the existing configuration


_COMMENT_RE = re.compile(r"#[^\n]*")
_DIRECTIVE_RE = re.compile(r"(?m)^\s*(include|listen|pid)\s+([^;]+);")


def _strip_comments(text: str) -> str:
    return _COMMENT_RE.sub("", text)


def _resolve_include(pattern: str, conf_dir: Path) -> str:
    return pattern if pattern.startswith("/") else str(conf_dir / pattern)


def included_files(
    main_conf: Path, conf_dir: Path, *, system_prefix: str = "/etc/nginx"
) -> list[Path]:
    """The files the main config includes (recursively), in order; includes are glob patterns.

    ``system_prefix`` is the conf dir the includes were written for; when the conf dir was
    redirected (tests, --root), absolute includes under it are looked up under ``conf_dir``.
    """
    out: list[Path] = []
    todo = [main_conf]
    while todo:
        f = todo.pop(0)
        if f in out or not f.is_file():
            continue
        out.append(f)
        try:
            text = _strip_comments(f.read_text(errors="replace"))
        except OSError:
            continue
        for m in _DIRECTIVE_RE.finditer(text):
            if m.group(1) != "include":
                continue
            pat = _map_prefix(
                _resolve_include(m.group(2).strip().strip("\"'"), conf_dir), conf_dir, system_prefix
            )
            todo.extend(Path(p) for p in sorted(glob.glob(pat)))
    return out


def _map_prefix(path: str, conf_dir: Path, system_prefix: str) -> str:
    if str(conf_dir) != system_prefix and path.startswith(system_prefix + "/"):
        return str(conf_dir) + path[len(system_prefix) :]
    return path


@dataclass(frozen=True)
class Listen:
    """One ``listen`` directive found in the configuration."""

    file: Path
    line: int
    address: str  # "" = any
    port: int

    def overlaps(self, address: str, port: int) -> bool:
        if port != self.port:
            return False
        wildcard = {"", "*", "0.0.0.0", "[::]"}  # noqa: S104 - parsing, not binding
        return self.address in wildcard or address in wildcard or self.address == address


def parse_listen(arg: str) -> tuple[str, int] | None:
    """(address, port) of a ``listen`` argument; None for unix sockets."""
    first = arg.split()[0]
    if first.startswith("unix:"):
        return None
    if first.isdigit():
        return "", int(first)
    m = re.match(r"^(\[[^\]]*\]|[^:]+):(\d+)$", first)
    if m:
        addr = m.group(1)
        return ("" if addr in ("*", "[::]") else addr), int(m.group(2))
    return first, 80


def listens(files: list[Path]) -> list[Listen]:
    """Every ``listen`` directive in ``files`` (comments ignored), with file and line."""
    out: list[Listen] = []
    for f in files:
        try:
            raw = f.read_text(errors="replace")
        except OSError:
            continue
        for lineno, line in enumerate(raw.splitlines(), 1):
            code = line.split("#", 1)[0]
            for m in re.finditer(r"\blisten\s+([^;]+);", code):
                parsed = parse_listen(m.group(1))
                if parsed:
                    out.append(Listen(f, lineno, parsed[0], parsed[1]))
    return out


def foreign_listeners(layout: Layout, address: str, port: int) -> list[Listen]:
    """``listen`` directives of other servers that would clash with ours (our file excluded)."""
    files = [
        f
        for f in included_files(layout.nginx_main_conf, layout.nginx_conf_dir)
        if f != layout.server_block_path and layout.nginx_erigolem_dir not in f.parents
    ]
    return [lst for lst in listens(files) if lst.overlaps(address, port)]


def main_conf_with_include(layout: Layout) -> str | None:
    """The main config with our include added, or None when it already covers our file.

    Raises NginxConfError when there is no main config or it has no ``http { }`` block.
    """
    main = layout.nginx_main_conf
    try:
        text = main.read_text()
    except FileNotFoundError as exc:
        raise NginxConfError(
            f"no nginx main config at {main}: install nginx (apt-get install nginx-light) or "
            "pass --nginx-conf-dir with the directory that holds nginx.conf"
        ) from exc
    target = str(layout.server_block_path)
    code = _strip_comments(text)
    for m in _DIRECTIVE_RE.finditer(code):
        if m.group(1) != "include":
            continue
        pat = _map_prefix(
            _resolve_include(m.group(2).strip().strip("\"'"), layout.nginx_conf_dir),
            layout.nginx_conf_dir,
            "/etc/nginx",
        )
        if fnmatch.fnmatch(target, pat) and _inside_http(code, m.start()):
            return None
    http = re.search(r"(?m)^(\s*)http\s*\{[^\n]*\n", text)
    if not http:
        raise NginxConfError(
            f"{main} has no http {{ }} block: add `include {target};` inside your http block "
            "by hand, then run setup again"
        )
    indent = http.group(1) + "    "
    line = f"{indent}include {target}; {INCLUDE_MARK}\n"
    return text[: http.end()] + line + text[http.end() :]


def _inside_http(code: str, pos: int) -> bool:
    """True when offset ``pos`` is inside the ``http { }`` block of the (comment-free) config."""
    m = re.search(r"\bhttp\s*\{", code)
    if not m or m.end() > pos:
        return False
    depth = 1
    for ch in code[m.end() : pos]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return False
    return depth >= 1


DEBIAN_PID_FILE = Path("/run/nginx.pid")  # nginx's compiled-in default on Debian/Ubuntu


def master_pid_file(layout: Layout, prefix: Path | None) -> Path | None:
    """The pid file of the nginx master that reads ``layout``'s main config, if it can be known.

    The runtime reads it to wait until the old workers are gone after a reload, so a node's URL
    never answers with the previous configuration (a 404 right after start). The main config's
    ``pid`` directive wins (relative paths resolve against the prefix, as nginx does); without
    one, Debian's default is used for the system nginx and nothing under a test root.
    """
    try:
        text = _strip_comments(layout.nginx_main_conf.read_text(errors="replace"))
    except OSError:
        text = ""
    for m in _DIRECTIVE_RE.finditer(text):
        if m.group(1) == "pid":
            value = m.group(2).strip().strip("\"'")
            path = Path(value)
            if not path.is_absolute():
                base = prefix if prefix is not None else Path("/etc/nginx")
                path = base / path
            return path
    return DEBIAN_PID_FILE if layout.root is None and prefix is None else None


def nginx_commands(
    nginx_bin: str, layout: Layout, prefix: Path | None
) -> tuple[list[str], list[str]]:
    """``(test_command, reload_command)`` for the nginx that reads ``layout``'s main config.

    For the system nginx (no root) these are plain ``nginx -t`` / ``nginx -s reload``; under a
    test root they name the prefix, main config and error log explicitly.
    """
    if layout.root is None and prefix is None:
        return [nginx_bin, "-t", "-q"], [nginx_bin, "-s", "reload"]
    extra: list[str] = []
    if prefix is not None:
        extra += ["-p", f"{prefix}/"]
    extra += ["-c", str(layout.nginx_main_conf)]
    if prefix is not None:
        extra += ["-e", str(prefix / "logs" / "error.log")]
    return [nginx_bin, "-t", "-q", *extra], [nginx_bin, "-s", "reload", *extra]


def escapes_root(layout: Layout, prefix: Path | None) -> tuple[list[str], str | None]:
    """Under ``--root``: the main config's paths that make nginx use the *system* files.

    ``--root`` only re-roots the files setup writes; nginx itself follows whatever the copied
    ``nginx.conf`` names. Returns ``(escapes, no_pid)``: each absolute ``include`` or ``pid``
    outside the root (``nginx -t`` would check the system config, the reload would signal the
    system nginx), and a note when there is no ``pid`` directive (nginx's compiled-in default
    pid file is the system one). Nothing without a root.
    """
    root = layout.root
    if root is None:
        return [], None
    try:
        text = _strip_comments(layout.nginx_main_conf.read_text(errors="replace"))
    except OSError:
        return [], None
    out: list[str] = []
    pid_seen = False
    for m in _DIRECTIVE_RE.finditer(text):
        value = m.group(2).strip().strip("\"'")
        if m.group(1) == "include":
            if not Path(_resolve_include(value, layout.nginx_conf_dir)).is_relative_to(root):
                out.append(f"include {value}")
        elif m.group(1) == "pid":
            pid_seen = True
            if not Path(value).is_absolute() and prefix is None:
                out.append(f"pid {value} (relative, and no --nginx-prefix names its base)")
            elif not (prefix or root).joinpath(value).is_relative_to(root):
                out.append(f"pid {value}")
    no_pid = None if pid_seen else f"no pid directive: nginx uses its default {DEBIAN_PID_FILE}"
    return out, no_pid
