"""Hand-written codec of the Golem Runtime API frames (exe-unit <-> runtime over stdin/stdout).

Each frame is a protobuf message prefixed by its length as a protobuf varint. The supervisor
sends `Request`s and the runtime sends `Response`s (replies and events). Field numbers follow the
`ya_runtime_api` schema (yagna's `exe-unit/runtime-api/src/runtime.proto`, crate ya-runtime-api
0.7; GPL, read, not copied); the code is written from its field numbers (no generated code). Both directions encode and decode, because
the server (runtime) and the client (supervisor role) both live in this package.

Malformed input always raises `ProtocolError` with a message saying what is wrong and where;
unknown fields are skipped as protobuf requires.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

MAX_FRAME_SIZE = 16 * 1024 * 1024
"""Largest frame either side accepts (bytes of the message, without the length prefix)."""

_UINT64_MAX = (1 << 64) - 1
_UINT32_MAX = (1 << 32) - 1
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1

# Wire types.
_VARINT = 0
_FIXED64 = 1
_LEN = 2
_FIXED32 = 5
_START_GROUP = 3  # proto2 groups: never in this schema, skipped as protobuf skips them
_END_GROUP = 4
_MAX_GROUP_DEPTH = 100  # protobuf's default recursion limit


class ProtocolError(ValueError):
    """A frame or message that is not valid Runtime API protobuf (or cannot be encoded)."""


class ErrorCode(IntEnum):
    """`Response.Error.code` values of the schema; unknown numbers are kept as plain ints."""

    INTERNAL = 0
    NOT_FOUND = 1
    BAD_REQUEST = 2


class NetworkInterface(IntEnum):
    """`CreateNetwork.interface` values."""

    VPN = 0
    INET = 1


# --------------------------------------------------------------------------- messages: requests


@dataclass(frozen=True)
class Output:
    """How the supervisor wants a run's output kept: `at_end=n` = last n bytes, None = discard."""

    at_end: int | None = None


@dataclass(frozen=True)
class HelloRequest:
    version: str = ""


@dataclass(frozen=True)
class RunRequest:
    bin: str = ""
    args: tuple[str, ...] = ()
    work_dir: str = ""
    stdout: Output | None = None
    stderr: Output | None = None


@dataclass(frozen=True)
class KillRequest:
    pid: int = 0
    signal: int = 0


@dataclass(frozen=True)
class ShutdownRequest:
    pass


@dataclass(frozen=True)
class Network:
    addr: str = ""
    gateway: str = ""
    mask: str = ""
    if_addr: str = ""


@dataclass(frozen=True)
class NetworkRequest:
    networks: tuple[Network, ...] = ()
    hosts: Mapping[str, str] = field(default_factory=dict)
    interface: int = NetworkInterface.VPN


RequestCommand = HelloRequest | RunRequest | KillRequest | ShutdownRequest | NetworkRequest


@dataclass(frozen=True)
class Request:
    """One supervisor -> runtime message. `command` None = none of the known kinds was set."""

    id: int = 0
    command: RequestCommand | None = None


# -------------------------------------------------------------------------- messages: responses


@dataclass(frozen=True)
class ErrorReply:
    code: int = ErrorCode.INTERNAL
    message: str = ""
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HelloReply:
    version: str = ""


@dataclass(frozen=True)
class RunReply:
    pid: int = 0


@dataclass(frozen=True)
class KillReply:
    pass


@dataclass(frozen=True)
class ShutdownReply:
    pass


@dataclass(frozen=True)
class ProcessStatus:
    """Event: output and/or completion of a process (pid 0 = the start output)."""

    pid: int = 0
    running: bool = False
    return_code: int = 0
    stdout: bytes = b""
    stderr: bytes = b""


@dataclass(frozen=True)
class RuntimeState:
    name: str = ""
    value: bytes = b""


@dataclass(frozen=True)
class RuntimeCounter:
    """Absolute (cumulative) value of a usage counter such as `golem.usage.duration_sec`."""

    name: str = ""
    value: float = 0.0


@dataclass(frozen=True)
class RuntimeStatus:
    kind: RuntimeState | RuntimeCounter | None = None


NETWORK_ENDPOINT_KINDS = (
    "unix_stream",
    "unix_datagram",
    "udp_datagram",
    "tcp_listener",
    "tcp_stream",
)


@dataclass(frozen=True)
class NetworkReply:
    """Endpoint of a created network; `kind` is one of NETWORK_ENDPOINT_KINDS or None."""

    kind: str | None = None
    address: str = ""


ResponseCommand = (
    ErrorReply
    | HelloReply
    | RunReply
    | KillReply
    | ShutdownReply
    | ProcessStatus
    | RuntimeStatus
    | NetworkReply
)


@dataclass(frozen=True)
class Response:
    """One runtime -> supervisor message: a reply (`event=False`, `id` copied) or an event."""

    event: bool = False
    id: int = 0
    command: ResponseCommand | None = None


# ------------------------------------------------------------------------------ wire primitives


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of an unsigned 64-bit value."""
    if value < 0 or value > _UINT64_MAX:
        raise ProtocolError(f"varint value {value} is outside 0..2^64-1")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Read a varint at `pos`; return (value, next position). Raises ProtocolError if bad."""
    result = 0
    shift = 0
    end = len(data)
    for i in range(10):
        if pos + i >= end:
            raise ProtocolError(f"truncated varint at offset {pos}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result > _UINT64_MAX:
                raise ProtocolError(f"varint at offset {pos} overflows 64 bits")
            return result, pos + i + 1
        shift += 7
    raise ProtocolError(f"varint at offset {pos} is longer than 10 bytes")


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def _uint(number: int, value: int, *, limit: int = _UINT64_MAX, what: str = "uint64") -> bytes:
    if not isinstance(value, int) or value < 0 or value > limit:
        raise ProtocolError(f"field {number}: {value!r} is not a valid {what}")
    return _key(number, _VARINT) + encode_varint(value) if value else b""


def _int32(number: int, value: int) -> bytes:
    if not isinstance(value, int) or not _INT32_MIN <= value <= _INT32_MAX:
        raise ProtocolError(f"field {number}: {value!r} is not a valid int32")
    if not value:
        return b""
    return _key(number, _VARINT) + encode_varint(value & _UINT64_MAX)


def _bool(number: int, value: bool) -> bytes:
    return _key(number, _VARINT) + b"\x01" if value else b""


def _bytes(number: int, value: bytes, *, always: bool = False) -> bytes:
    if not value and not always:
        return b""
    return _key(number, _LEN) + encode_varint(len(value)) + value


def _str(number: int, value: str, *, always: bool = False) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError(f"field {number}: {value!r} is not a string")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"field {number}: string is not encodable as UTF-8") from exc
    return _bytes(number, raw, always=always)


def _double(number: int, value: float) -> bytes:
    raw = struct.pack("<d", float(value))
    if raw == b"\x00" * 8:  # proto3 omits exactly +0.0 (bit pattern zero), keeps -0.0
        return b""
    return _key(number, _FIXED64) + raw


def _message(number: int, body: bytes) -> bytes:
    """A present sub-message: written even when empty (tag + zero length)."""
    return _key(number, _LEN) + encode_varint(len(body)) + body


def _map(number: int, entries: Mapping[str, str]) -> bytes:
    return b"".join(_message(number, _str(1, k) + _str(2, v)) for k, v in entries.items())


_Field = tuple[int, int, int | bytes]
"""(field number, wire type, value): int for varint/fixed, bytes for length-delimited."""


def _fields(data: bytes, what: str) -> Iterator[_Field]:
    """Walk the fields of one message, validating keys and lengths.

    Groups (wire types 3/4, proto2 only) are never fields of this schema: as protobuf's own
    parsers do with unknown fields, a group is skipped whole (up to its matching end tag,
    nested groups included); an end tag without its start, or a group left open, is malformed.
    """
    pos = 0
    while pos < len(data):
        start = pos
        number, wire_type, value, pos = _next_field(data, pos, what)
        if wire_type == _START_GROUP:
            pos = _skip_group(data, pos, number, what, start)
        elif wire_type == _END_GROUP:
            raise ProtocolError(
                f"{what}: end of group {number} at offset {start} without its start"
            )
        else:
            assert value is not None
            yield number, wire_type, value


def _skip_group(data: bytes, pos: int, group: int, what: str, opened_at: int) -> int:
    """The offset after the end tag of ``group`` (opened at ``opened_at``), nested groups too."""
    open_groups = [group]
    while pos < len(data):
        start = pos
        number, wire_type, _value, pos = _next_field(data, pos, what)
        if wire_type == _START_GROUP:
            if len(open_groups) >= _MAX_GROUP_DEPTH:
                raise ProtocolError(f"{what}: groups nested deeper than {_MAX_GROUP_DEPTH}")
            open_groups.append(number)
        elif wire_type == _END_GROUP:
            if number != open_groups[-1]:
                raise ProtocolError(
                    f"{what}: end of group {number} at offset {start} inside group "
                    f"{open_groups[-1]}"
                )
            open_groups.pop()
            if not open_groups:
                return pos
    raise ProtocolError(f"{what}: group {group} opened at offset {opened_at} is never closed")


def _next_field(data: bytes, pos: int, what: str) -> tuple[int, int, int | bytes | None, int]:
    """(field number, wire type, value, next offset) of the field at ``pos``; groups: no value."""
    end = len(data)
    start = pos
    key, pos = decode_varint(data, pos)
    number, wire_type = key >> 3, key & 7
    if number == 0 or number > 0x1FFFFFFF:
        raise ProtocolError(f"{what}: invalid field number {number} at offset {start}")
    if wire_type == _VARINT:
        value, pos = decode_varint(data, pos)
        return number, wire_type, value, pos
    if wire_type == _FIXED64:
        if pos + 8 > end:
            raise ProtocolError(f"{what}: truncated 64-bit field {number} at offset {start}")
        return number, wire_type, data[pos : pos + 8], pos + 8
    if wire_type == _FIXED32:
        if pos + 4 > end:
            raise ProtocolError(f"{what}: truncated 32-bit field {number} at offset {start}")
        return number, wire_type, data[pos : pos + 4], pos + 4
    if wire_type == _LEN:
        length, pos = decode_varint(data, pos)
        if length > end - pos:
            raise ProtocolError(
                f"{what}: field {number} claims {length} bytes but only {end - pos} remain"
            )
        return number, wire_type, data[pos : pos + length], pos + length
    if wire_type in (_START_GROUP, _END_GROUP):
        return number, wire_type, None, pos
    raise ProtocolError(
        f"{what}: unsupported wire type {wire_type} (field {number}) at offset {start}"
    )


def _expect(what: str, number: int, wire_type: int, expected: int) -> None:
    if wire_type != expected:
        raise ProtocolError(
            f"{what}: field {number} has wire type {wire_type}, expected {expected}"
        )


def _as_int(value: int | bytes) -> int:
    assert isinstance(value, int)
    return value


def _as_bytes(value: int | bytes) -> bytes:
    assert isinstance(value, bytes)
    return value


def _to_str(raw: bytes, what: str, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what}: field {number} is not valid UTF-8") from exc


def _to_int32(value: int) -> int:
    value &= _UINT32_MAX
    return value - (1 << 32) if value & 0x80000000 else value


def _decode_simple(
    data: bytes, what: str, schema: Mapping[int, tuple[str, str]]
) -> dict[str, object]:
    """Decode a flat message; schema: number -> (name, kind). Repeated kinds collect lists."""
    out: dict[str, object] = {}
    for number, wire_type, value in _fields(data, what):
        spec = schema.get(number)
        if spec is None:
            continue  # unknown field: skipped, as protobuf requires
        name, kind = spec
        if kind in ("uint64", "uint32", "int32", "bool"):
            _expect(what, number, wire_type, _VARINT)
            v = _as_int(value)
            if kind == "uint32":
                out[name] = v & _UINT32_MAX
            elif kind == "int32":
                out[name] = _to_int32(v)
            elif kind == "bool":
                out[name] = v != 0
            else:
                out[name] = v
        elif kind == "double":
            _expect(what, number, wire_type, _FIXED64)
            out[name] = struct.unpack("<d", _as_bytes(value))[0]
        elif kind == "string":
            _expect(what, number, wire_type, _LEN)
            out[name] = _to_str(_as_bytes(value), what, number)
        elif kind == "bytes":
            _expect(what, number, wire_type, _LEN)
            out[name] = bytes(_as_bytes(value))
        elif kind == "rstring":
            _expect(what, number, wire_type, _LEN)
            lst = out.setdefault(name, [])
            assert isinstance(lst, list)
            lst.append(_to_str(_as_bytes(value), what, number))
        elif kind in ("message", "rmessage"):
            _expect(what, number, wire_type, _LEN)
            if kind == "message":
                out[name] = bytes(_as_bytes(value))
            else:
                lst = out.setdefault(name, [])
                assert isinstance(lst, list)
                lst.append(bytes(_as_bytes(value)))
        else:  # pragma: no cover - schema typo
            raise AssertionError(kind)
    return out


def _decode_map(entries: object, what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for raw in entries if isinstance(entries, list) else []:
        entry = _decode_simple(raw, what, {1: ("key", "string"), 2: ("value", "string")})
        result[str(entry.get("key", ""))] = str(entry.get("value", ""))
    return result


def _s(d: Mapping[str, object], name: str) -> str:
    v = d.get(name, "")
    return v if isinstance(v, str) else ""


def _i(d: Mapping[str, object], name: str) -> int:
    v = d.get(name, 0)
    return v if isinstance(v, int) else 0


def _b(d: Mapping[str, object], name: str) -> bytes:
    v = d.get(name, b"")
    return v if isinstance(v, bytes) else b""


def _f(d: Mapping[str, object], name: str) -> float:
    v = d.get(name, 0.0)
    return v if isinstance(v, float) else 0.0


# ------------------------------------------------------------------------------------ requests


def _encode_output(number: int, out: Output | None) -> bytes:
    if out is None:
        return b""
    body = (
        b"" if out.at_end is None else _key(2, _VARINT) + encode_varint(_check_uint32(out.at_end))
    )
    return _message(number, body)


def _check_uint32(value: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= _UINT32_MAX:
        raise ProtocolError(f"{value!r} is not a valid uint32")
    return value


def encode_request(request: Request) -> bytes:
    """The protobuf bytes of a Request (no length prefix)."""
    out = _uint(1, request.id)
    cmd = request.command
    if isinstance(cmd, HelloRequest):
        out += _message(2, _str(1, cmd.version))
    elif isinstance(cmd, RunRequest):
        body = _str(1, cmd.bin)
        body += b"".join(_str(2, a, always=True) for a in cmd.args)
        body += _str(3, cmd.work_dir)
        body += _encode_output(4, cmd.stdout) + _encode_output(5, cmd.stderr)
        out += _message(10, body)
    elif isinstance(cmd, KillRequest):
        out += _message(11, _uint(1, cmd.pid) + _int32(2, cmd.signal))
    elif isinstance(cmd, ShutdownRequest):
        out += _message(12, b"")
    elif isinstance(cmd, NetworkRequest):
        body = b"".join(
            _message(
                1,
                _str(1, n.addr) + _str(2, n.gateway) + _str(3, n.mask) + _str(4, n.if_addr),
            )
            for n in cmd.networks
        )
        body += _map(2, cmd.hosts) + _int32(3, int(cmd.interface))
        out += _message(30, body)
    elif cmd is not None:
        raise ProtocolError(f"not a request command: {cmd!r}")
    return out


def _decode_output(raw: object) -> Output | None:
    if raw is None:
        return None
    assert isinstance(raw, bytes)
    d = _decode_simple(raw, "Output", {2: ("at_end", "uint32")})
    at_end = d.get("at_end")
    return Output(at_end if isinstance(at_end, int) else None)


def decode_request(data: bytes) -> Request:
    """Parse one Request message (no length prefix). Raises ProtocolError if malformed."""
    data = bytes(data)
    req_id = 0
    command: RequestCommand | None = None
    for number, wire_type, value in _fields(data, "Request"):
        if number == 1:
            _expect("Request", number, wire_type, _VARINT)
            req_id = _as_int(value)
            continue
        if number not in (2, 10, 11, 12, 30):
            continue
        _expect("Request", number, wire_type, _LEN)
        body = _as_bytes(value)
        if number == 2:
            d = _decode_simple(body, "Request.Hello", {1: ("version", "string")})
            command = HelloRequest(_s(d, "version"))
        elif number == 10:
            d = _decode_simple(
                body,
                "Request.RunProcess",
                {
                    1: ("bin", "string"),
                    2: ("args", "rstring"),
                    3: ("work_dir", "string"),
                    4: ("stdout", "message"),
                    5: ("stderr", "message"),
                },
            )
            args = d.get("args", [])
            assert isinstance(args, list)
            command = RunRequest(
                bin=_s(d, "bin"),
                args=tuple(str(a) for a in args),
                work_dir=_s(d, "work_dir"),
                stdout=_decode_output(d.get("stdout")),
                stderr=_decode_output(d.get("stderr")),
            )
        elif number == 11:
            d = _decode_simple(
                body, "Request.KillProcess", {1: ("pid", "uint64"), 2: ("signal", "int32")}
            )
            command = KillRequest(_i(d, "pid"), _i(d, "signal"))
        elif number == 12:
            _decode_simple(body, "Request.Shutdown", {})
            command = ShutdownRequest()
        else:
            d = _decode_simple(
                body,
                "Request.CreateNetwork",
                {1: ("networks", "rmessage"), 2: ("hosts", "rmessage"), 3: ("interface", "int32")},
            )
            nets = []
            raw_nets = d.get("networks", [])
            assert isinstance(raw_nets, list)
            for raw in raw_nets:
                n = _decode_simple(
                    raw,
                    "Network",
                    {
                        1: ("addr", "string"),
                        2: ("gateway", "string"),
                        3: ("mask", "string"),
                        4: ("if_addr", "string"),
                    },
                )
                nets.append(
                    Network(
                        _s(n, "addr"),
                        _s(n, "gateway"),
                        _s(n, "mask"),
                        _s(n, "if_addr"),
                    )
                )
            command = NetworkRequest(
                networks=tuple(nets),
                hosts=_decode_map(d.get("hosts"), "Request.CreateNetwork.hosts"),
                interface=_i(d, "interface"),
            )
    return Request(req_id, command)


# ----------------------------------------------------------------------------------- responses


def encode_response(response: Response) -> bytes:
    """The protobuf bytes of a Response (no length prefix)."""
    out = _bool(1, response.event) + _uint(2, response.id)
    cmd = response.command
    if isinstance(cmd, ErrorReply):
        body = _int32(1, int(cmd.code)) + _str(2, cmd.message) + _map(3, cmd.context)
        out += _message(3, body)
    elif isinstance(cmd, HelloReply):
        out += _message(4, _str(1, cmd.version))
    elif isinstance(cmd, RunReply):
        out += _message(10, _uint(1, cmd.pid))
    elif isinstance(cmd, KillReply):
        out += _message(11, b"")
    elif isinstance(cmd, ShutdownReply):
        out += _message(12, b"")
    elif isinstance(cmd, ProcessStatus):
        body = (
            _uint(1, cmd.pid)
            + _bool(2, cmd.running)
            + _int32(3, cmd.return_code)
            + _bytes(4, bytes(cmd.stdout))
            + _bytes(5, bytes(cmd.stderr))
        )
        out += _message(20, body)
    elif isinstance(cmd, RuntimeStatus):
        kind = cmd.kind
        if isinstance(kind, RuntimeState):
            body = _message(1, _str(1, kind.name) + _bytes(2, bytes(kind.value)))
        elif isinstance(kind, RuntimeCounter):
            body = _message(2, _str(1, kind.name) + _double(2, kind.value))
        elif kind is None:
            body = b""
        else:
            raise ProtocolError(f"not a runtime status kind: {kind!r}")
        out += _message(21, body)
    elif isinstance(cmd, NetworkReply):
        if cmd.kind is None:
            body = b""
        elif cmd.kind in NETWORK_ENDPOINT_KINDS:
            body = _str(NETWORK_ENDPOINT_KINDS.index(cmd.kind) + 1, cmd.address, always=True)
        else:
            raise ProtocolError(f"unknown network endpoint kind {cmd.kind!r}")
        out += _message(30, body)
    elif cmd is not None:
        raise ProtocolError(f"not a response command: {cmd!r}")
    return out


def _decode_rt_status(body: bytes) -> RuntimeStatus:
    kind: RuntimeState | RuntimeCounter | None = None
    for number, wire_type, value in _fields(body, "Response.RuntimeStatus"):
        if number not in (1, 2):
            continue
        _expect("Response.RuntimeStatus", number, wire_type, _LEN)
        if number == 1:
            d = _decode_simple(
                _as_bytes(value),
                "RuntimeStatus.State",
                {1: ("name", "string"), 2: ("value", "bytes")},
            )
            kind = RuntimeState(_s(d, "name"), _b(d, "value"))
        else:
            d = _decode_simple(
                _as_bytes(value),
                "RuntimeStatus.Counter",
                {1: ("name", "string"), 2: ("value", "double")},
            )
            kind = RuntimeCounter(_s(d, "name"), _f(d, "value"))
    return RuntimeStatus(kind)


def _decode_network_reply(body: bytes) -> NetworkReply:
    reply = NetworkReply()
    for number, wire_type, value in _fields(body, "Response.CreateNetwork"):
        if 1 <= number <= len(NETWORK_ENDPOINT_KINDS):
            _expect("Response.CreateNetwork", number, wire_type, _LEN)
            address = _to_str(_as_bytes(value), "Response.CreateNetwork", number)
            reply = NetworkReply(NETWORK_ENDPOINT_KINDS[number - 1], address)
    return reply


def decode_response(data: bytes) -> Response:
    """Parse one Response message (no length prefix). Raises ProtocolError if malformed."""
    data = bytes(data)
    event = False
    resp_id = 0
    command: ResponseCommand | None = None
    for number, wire_type, value in _fields(data, "Response"):
        if number in (1, 2):
            _expect("Response", number, wire_type, _VARINT)
            if number == 1:
                event = _as_int(value) != 0
            else:
                resp_id = _as_int(value)
            continue
        if number not in (3, 4, 10, 11, 12, 20, 21, 30):
            continue
        _expect("Response", number, wire_type, _LEN)
        body = _as_bytes(value)
        if number == 3:
            d = _decode_simple(
                body,
                "Response.Error",
                {1: ("code", "int32"), 2: ("message", "string"), 3: ("context", "rmessage")},
            )
            code = _i(d, "code")
            command = ErrorReply(
                code=ErrorCode(code) if code in ErrorCode._value2member_map_ else code,
                message=_s(d, "message"),
                context=_decode_map(d.get("context"), "Response.Error.context"),
            )
        elif number == 4:
            d = _decode_simple(body, "Response.Hello", {1: ("version", "string")})
            command = HelloReply(_s(d, "version"))
        elif number == 10:
            d = _decode_simple(body, "Response.RunProcess", {1: ("pid", "uint64")})
            command = RunReply(_i(d, "pid"))
        elif number == 11:
            _decode_simple(body, "Response.KillProcess", {})
            command = KillReply()
        elif number == 12:
            _decode_simple(body, "Response.Shutdown", {})
            command = ShutdownReply()
        elif number == 20:
            d = _decode_simple(
                body,
                "Response.ProcessStatus",
                {
                    1: ("pid", "uint64"),
                    2: ("running", "bool"),
                    3: ("return_code", "int32"),
                    4: ("stdout", "bytes"),
                    5: ("stderr", "bytes"),
                },
            )
            command = ProcessStatus(
                pid=_i(d, "pid"),
                running=d.get("running") is True,
                return_code=_i(d, "return_code"),
                stdout=_b(d, "stdout"),
                stderr=_b(d, "stderr"),
            )
        elif number == 21:
            command = _decode_rt_status(body)
        else:
            command = _decode_network_reply(body)
    return Response(event, resp_id, command)


# -------------------------------------------------------------------------------------- frames


def frame(message: bytes) -> bytes:
    """Prefix an encoded message with its varint length."""
    if len(message) > MAX_FRAME_SIZE:
        raise ProtocolError(
            f"message of {len(message)} bytes exceeds the {MAX_FRAME_SIZE} byte limit"
        )
    return encode_varint(len(message)) + message


def frame_request(request: Request) -> bytes:
    return frame(encode_request(request))


def frame_response(response: Response) -> bytes:
    return frame(encode_response(response))


T = TypeVar("T")


class FrameDecoder(Generic[T]):
    """Incremental decoder: feed raw bytes as they arrive, get the complete messages back.

    After a ProtocolError the decoder stays broken (the stream cannot be resynchronised).
    """

    def __init__(
        self, parse: Callable[[bytes], T], *, max_frame_size: int = MAX_FRAME_SIZE
    ) -> None:
        self._parse = parse
        self._max = max_frame_size
        self._buf = bytearray()
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for more input."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[T]:
        """Add bytes; return every message completed by them (possibly none)."""
        if self._error is not None:
            raise self._error
        self._buf += data
        messages: list[T] = []
        try:
            while self._buf:
                try:
                    length, start = decode_varint(self._buf, 0)
                except ProtocolError:
                    if len(self._buf) < 10 and self._buf[-1] & 0x80:
                        break  # the length prefix itself is still incomplete
                    raise
                if length > self._max:
                    raise ProtocolError(
                        f"frame length {length} exceeds the {self._max} byte limit "
                        "(corrupt stream or stray output on stdout?)"
                    )
                if len(self._buf) - start < length:
                    break
                body = bytes(self._buf[start : start + length])
                del self._buf[: start + length]
                messages.append(self._parse(body))
        except ProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise
        return messages

    def eof(self) -> None:
        """The stream ended: raise ProtocolError if a partial frame is left over."""
        if self._error is None and self._buf:
            self._error = ProtocolError(
                f"stream ended inside a frame ({len(self._buf)} bytes of an incomplete frame)"
            )
            self._buf.clear()
        if self._error is not None:
            raise self._error


def request_decoder(max_frame_size: int = MAX_FRAME_SIZE) -> FrameDecoder[Request]:
    """Decoder for the runtime's stdin (supervisor -> runtime)."""
    return FrameDecoder(decode_request, max_frame_size=max_frame_size)


def response_decoder(max_frame_size: int = MAX_FRAME_SIZE) -> FrameDecoder[Response]:
    """Decoder for the runtime's stdout (runtime -> supervisor)."""
    return FrameDecoder(decode_response, max_frame_size=max_frame_size)
