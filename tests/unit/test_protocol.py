"""The Runtime API codec: the reference wire bytes, round trips, and hostile input."""

from __future__ import annotations

import contextlib
import math
import struct

import pytest
from erigolem_runtime.protocol import (
    MAX_FRAME_SIZE,
    ErrorCode,
    ErrorReply,
    FrameDecoder,
    HelloReply,
    HelloRequest,
    KillReply,
    KillRequest,
    Network,
    NetworkReply,
    NetworkRequest,
    Output,
    ProcessStatus,
    ProtocolError,
    Request,
    Response,
    RunReply,
    RunRequest,
    RuntimeCounter,
    RuntimeState,
    RuntimeStatus,
    ShutdownReply,
    ShutdownRequest,
    decode_request,
    decode_response,
    decode_varint,
    encode_request,
    encode_response,
    encode_varint,
    frame,
    frame_request,
    frame_response,
    request_decoder,
    response_decoder,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# runtime-protocol.md §6.2, produced there with the `protobuf` package from the schema.
REQUEST_EXAMPLES = [
    (Request(2, HelloRequest("0.1.0")), "0b 08 02 12 07 0a 05 30 2e 31 2e 30"),
    (
        Request(3, RunRequest(bin="echo", args=("echo", "hi"))),
        "14 08 03 52 10 0a 04 65 63 68 6f 12 04 65 63 68 6f 12 02 68 69",
    ),
    (Request(4, ShutdownRequest()), "04 08 04 62 00"),
]
RESPONSE_EXAMPLES = [
    (Response(id=2, command=HelloReply("0.1.0")), "0b 10 02 22 07 0a 05 30 2e 31 2e 30"),
    (Response(id=3, command=RunReply(1)), "06 10 03 52 02 08 01"),
    (
        Response(event=True, command=ProcessStatus(pid=1, running=False, stdout=b"hi\n")),
        "0c 08 01 a2 01 07 08 01 22 03 68 69 0a",
    ),
    (
        Response(event=True, command=RuntimeStatus(RuntimeCounter("my.counter", 3.0))),
        "1c 08 01 aa 01 17 12 15 0a 0a 6d 79 2e 63 6f 75 6e 74 65 72 11 00 00 00 00 00 00 08 40",
    ),
    (Response(id=4, command=ShutdownReply()), "04 10 04 62 00"),
    (
        Response(id=3, command=ErrorReply(ErrorCode.INTERNAL, "boom")),
        "0a 10 03 1a 06 12 04 62 6f 6f 6d",
    ),
    (
        Response(event=True, command=ProcessStatus(pid=0, running=True, stdout=b'{"a":1}')),
        "10 08 01 a2 01 0b 10 01 22 07 7b 22 61 22 3a 31 7d",
    ),
]


@pytest.mark.parametrize(("message", "wire"), REQUEST_EXAMPLES)
def test_reference_request_bytes(message: Request, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert frame_request(message) == raw
    assert request_decoder().feed(raw) == [message]


@pytest.mark.parametrize(("message", "wire"), RESPONSE_EXAMPLES)
def test_reference_response_bytes(message: Response, wire: str) -> None:
    raw = bytes.fromhex(wire)
    assert frame_response(message) == raw
    assert response_decoder().feed(raw) == [message]


def test_empty_commands_are_written_present() -> None:
    # A reply without its (empty) command makes exe-unit panic: tag + zero length must be there.
    assert encode_response(Response(id=7, command=KillReply())) == bytes.fromhex("10 07 5a 00")
    assert encode_request(Request(7, KillRequest())) == bytes.fromhex("08 07 5a 00")
    assert decode_response(bytes.fromhex("10 07 5a 00")).command == KillReply()


def test_negative_int32_uses_ten_byte_varint() -> None:
    body = encode_response(Response(event=True, command=ProcessStatus(pid=5, return_code=-9)))
    assert bytes.fromhex("18 f7 ff ff ff ff ff ff ff ff 01") in body
    assert decode_response(body).command == ProcessStatus(pid=5, return_code=-9)


def test_unknown_fields_are_skipped() -> None:
    hello = bytes.fromhex("08 02 12 07 0a 05 30 2e 31 2e 30")
    extras = (
        bytes.fromhex("a0 06 2a")  # field 100 varint
        + bytes.fromhex("a9 06")
        + b"\x00" * 8  # field 101 fixed64
        + bytes.fromhex("b2 06 03 61 62 63")  # field 102 length-delimited
        + bytes.fromhex("bd 06")
        + b"\x00" * 4  # field 103 fixed32
    )
    assert decode_request(extras + hello + extras) == Request(2, HelloRequest("0.1.0"))
    # unknown field inside a sub-message too
    assert decode_request(bytes.fromhex("08 02 12 0b 0a 05 30 2e 31 2e 30 18 01 20 02")) == Request(
        2, HelloRequest("0.1.0")
    )


def test_unknown_group_fields_are_skipped_like_protobuf_does() -> None:
    # id 2, then group 5 {varint 1: 1, group 6 {}} (proto2 groups), then hello{"0.1.0"}
    raw = bytes.fromhex("08 02 2b 08 01 33 34 2c 12 07 0a 05 30 2e 31 2e 30")
    assert decode_request(raw) == Request(2, HelloRequest("0.1.0"))
    # inside a known message too: RunProcess {bin "x", group 9 {}, args ["x"]}
    run = bytes.fromhex("0a 01 78 4b 4c 12 01 78")
    decoded = decode_request(bytes.fromhex("08 03 52") + bytes([len(run)]) + run)
    assert decoded.command == RunRequest(bin="x", args=("x",))


def test_unknown_command_decodes_to_none() -> None:
    # a future oneof member (field 40) is skipped: the server answers "unknown command".
    assert decode_request(bytes.fromhex("08 09 c2 02 00")) == Request(9, None)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("08", "truncated varint"),
        ("08 ff ff ff ff ff ff ff ff ff ff 01", "longer than 10 bytes"),
        ("08 ff ff ff ff ff ff ff ff ff 7f", "overflows"),
        ("12 05 0a", "claims 5 bytes"),
        ("0b", "never closed"),  # a group that is opened and never ended
        ("0c", "end of group 1 at offset 0 without its start"),
        ("0b 14", "end of group 2 at offset 1 inside group 1"),
        ("0b " * 101, "nested deeper than 100"),
        ("0f", "wire type 7"),
        ("00 01", "field number 0"),
        ("0a 00", "wire type 2, expected 0"),  # id sent as bytes
        ("12 03 0a 01 ff", "UTF-8"),
        ("52 02 12 01", "claims 1 bytes"),
    ],
)
def test_malformed_requests_raise_protocol_error(raw: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        decode_request(bytes.fromhex(raw))


def test_varint_limits() -> None:
    assert encode_varint(0) == b"\x00"
    assert encode_varint(300) == b"\xac\x02"
    top = encode_varint(2**64 - 1)
    assert len(top) == 10
    assert decode_varint(top, 0) == (2**64 - 1, 10)
    with pytest.raises(ProtocolError):
        encode_varint(-1)
    with pytest.raises(ProtocolError):
        encode_varint(2**64)


def test_encoding_rejects_out_of_range_values() -> None:
    with pytest.raises(ProtocolError, match="int32"):
        encode_response(Response(command=ProcessStatus(return_code=2**31)))
    with pytest.raises(ProtocolError, match="uint64"):
        encode_request(Request(-1, ShutdownRequest()))
    with pytest.raises(ProtocolError, match="uint32"):
        encode_request(Request(1, RunRequest(stdout=Output(at_end=2**32))))
    with pytest.raises(ProtocolError, match="endpoint kind"):
        encode_response(Response(command=NetworkReply("carrier_pigeon", "x")))
    with pytest.raises(ProtocolError, match="exceeds"):
        frame(b"\x00" * (MAX_FRAME_SIZE + 1))


# ------------------------------------------------------------------------- frame decoder


def test_decoder_is_incremental_byte_by_byte() -> None:
    stream = b"".join(bytes.fromhex(w) for _, w in RESPONSE_EXAMPLES)
    dec = response_decoder()
    got: list[Response] = []
    for i in range(len(stream)):
        got += dec.feed(stream[i : i + 1])
    assert got == [m for m, _ in RESPONSE_EXAMPLES]
    assert dec.buffered == 0
    dec.eof()  # nothing left over: no error


def test_decoder_many_frames_in_one_chunk_and_a_split_length_prefix() -> None:
    big = Response(event=True, command=ProcessStatus(pid=1, running=True, stdout=b"x" * 300))
    raw = frame_response(big)
    assert raw[0] & 0x80  # two-byte length prefix
    dec = response_decoder()
    assert dec.feed(raw[:1]) == []
    assert dec.feed(raw[1:] + raw + raw[:5]) == [big, big]
    assert dec.buffered == 5
    with pytest.raises(ProtocolError, match="incomplete frame"):
        dec.eof()


def test_decoder_rejects_oversized_frame_before_buffering_it() -> None:
    dec = request_decoder(max_frame_size=1024)
    with pytest.raises(ProtocolError, match="exceeds the 1024 byte limit"):
        dec.feed(encode_varint(1025))
    # the decoder stays broken: the stream cannot be resynchronised
    with pytest.raises(ProtocolError):
        dec.feed(frame_request(Request(2, HelloRequest("0.1.0"))))


def test_stray_text_on_the_stream_is_an_error_not_a_hang() -> None:
    # "Hello world\n" read as a frame: length 0x48 = 72, then garbage fields.
    dec = response_decoder()
    assert dec.feed(b"Hello world\n") == []  # waits for 72 bytes...
    with pytest.raises(ProtocolError):
        dec.feed(b"?" * 80)  # ...which are not a valid Response
    # A huge "length" from text is rejected at once.
    with pytest.raises(ProtocolError, match="exceeds"):
        response_decoder().feed(b"\xff\xff\xff\xff\x7f")


def test_decoder_error_message_names_the_problem() -> None:
    dec: FrameDecoder[Request] = request_decoder()
    with pytest.raises(ProtocolError, match="wire type 7"):
        dec.feed(bytes.fromhex("01 0f"))


# ---------------------------------------------------------------------- property-based

_u64 = st.integers(0, 2**64 - 1)
_i32 = st.integers(-(2**31), 2**31 - 1)
_text = st.text(max_size=20)
_maps = st.dictionaries(_text, _text, max_size=3)
_outputs = st.none() | st.builds(Output, st.none() | st.integers(0, 2**32 - 1))

_request_commands = st.one_of(
    st.none(),
    st.builds(HelloRequest, _text),
    st.builds(
        RunRequest,
        bin=_text,
        args=st.lists(_text, max_size=4).map(tuple),
        work_dir=_text,
        stdout=_outputs,
        stderr=_outputs,
    ),
    st.builds(KillRequest, _u64, _i32),
    st.just(ShutdownRequest()),
    st.builds(
        NetworkRequest,
        networks=st.lists(st.builds(Network, _text, _text, _text, _text), max_size=3).map(tuple),
        hosts=_maps,
        interface=_i32,
    ),
)
_requests = st.builds(Request, _u64, _request_commands)

_doubles = st.floats(allow_nan=False)
_response_commands = st.one_of(
    st.none(),
    st.builds(ErrorReply, _i32, _text, _maps),
    st.builds(HelloReply, _text),
    st.builds(RunReply, _u64),
    st.just(KillReply()),
    st.just(ShutdownReply()),
    st.builds(
        ProcessStatus, _u64, st.booleans(), _i32, st.binary(max_size=40), st.binary(max_size=40)
    ),
    st.builds(
        RuntimeStatus,
        st.none()
        | st.builds(RuntimeState, _text, st.binary(max_size=20))
        | st.builds(RuntimeCounter, _text, _doubles),
    ),
    st.builds(
        NetworkReply,
        st.sampled_from(
            ["unix_stream", "unix_datagram", "udp_datagram", "tcp_listener", "tcp_stream"]
        ),
        _text,
    )
    | st.just(NetworkReply()),
)
_responses = st.builds(Response, st.booleans(), _u64, _response_commands)


@given(_requests)
def test_request_round_trip(req: Request) -> None:
    assert decode_request(encode_request(req)) == req


@given(_responses)
def test_response_round_trip(resp: Response) -> None:
    back = decode_response(encode_response(resp))
    assert back == resp
    if isinstance(resp.command, RuntimeStatus) and isinstance(resp.command.kind, RuntimeCounter):
        # bit-exact doubles (including -0.0)
        assert isinstance(back.command, RuntimeStatus)
        assert isinstance(back.command.kind, RuntimeCounter)
        value = resp.command.kind.value
        assert struct.pack("<d", back.command.kind.value) == struct.pack("<d", value) or value == 0
        assert math.copysign(1, back.command.kind.value) == math.copysign(1, value)


@given(st.lists(_responses, max_size=6), st.integers(1, 64))
def test_stream_of_frames_in_random_chunks(messages: list[Response], chunk: int) -> None:
    stream = b"".join(frame_response(m) for m in messages)
    dec = response_decoder()
    got: list[Response] = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i : i + chunk])
    assert got == messages
    dec.eof()


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_protocol_error(data: bytes) -> None:
    for decode in (decode_request, decode_response):
        with contextlib.suppress(ProtocolError):
            decode(data)
    for dec in (request_decoder(max_frame_size=4096), response_decoder(max_frame_size=4096)):
        try:
            dec.feed(data)
            dec.eof()
        except ProtocolError:
            pass


@settings(max_examples=200)
@given(_responses, st.data())
def test_truncated_frames_are_reported_at_eof(resp: Response, data: st.DataObject) -> None:
    raw = frame_response(resp)
    cut = data.draw(st.integers(0, len(raw) - 1))
    dec = response_decoder()
    assert dec.feed(raw[:cut]) == []
    if cut:
        with pytest.raises(ProtocolError):
            dec.eof()
    else:
        dec.eof()


@settings(max_examples=200)
@given(_requests, st.data())
def test_corrupted_request_bytes_never_crash(req: Request, data: st.DataObject) -> None:
    raw = bytearray(encode_request(req))
    if raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    with contextlib.suppress(ProtocolError):
        decode_request(bytes(raw))
