"""Live Link Face UDP packets, read back by a decoder written here from the documented byte layout."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.export.livelink_udp import LiveLinkSender, encode_packet, parse_address
from facetalk.face.arkit import ARKIT_NAMES


def decode(packet: bytes) -> dict[str, object]:
    """Unreal's reading of a version-6 packet, byte by byte: big-endian, length-prefixed strings."""
    offset = 0

    def take(n: int) -> bytes:
        nonlocal offset
        chunk = packet[offset : offset + n]
        assert len(chunk) == n, "packet too short"
        offset += n
        return chunk

    def int32() -> int:
        return int.from_bytes(take(4), "big", signed=True)

    def float32() -> float:
        return float(np.frombuffer(take(4), dtype=">f4")[0])

    version = take(1)[0]
    device = take(int32()).decode()
    subject = take(int32()).decode()
    frame, sub_frame, numerator, denominator = int32(), float32(), int32(), int32()
    count = take(1)[0]
    values = [float32() for _ in range(count)]
    assert offset == len(packet), "trailing bytes"
    return {"version": version, "device": device, "subject": subject, "frame": frame, "sub_frame": sub_frame,
            "fps": (numerator, denominator), "values": values}  # fmt: skip


def test_packet_layout_round_trips() -> None:
    weights = np.linspace(0.0, 1.0, 52, dtype=np.float32)
    rotations = np.arange(9, dtype=np.float32) / 10
    packet = encode_packet(weights, frame=1234, fps=30, subject="Face", device_id="dev-1", rotations=rotations, sub_frame=0.5)
    got = decode(packet)
    assert got["version"] == 6 and got["device"] == "dev-1" and got["subject"] == "Face"
    assert got["frame"] == 1234 and got["sub_frame"] == 0.5 and got["fps"] == (30, 1)
    values = np.asarray(got["values"], np.float32)
    assert len(values) == 61
    np.testing.assert_array_equal(values[:52], weights)
    np.testing.assert_array_equal(values[52:], rotations)
    # jawOpen is value 17 of the app's packets
    assert values[17] == weights[ARKIT_NAMES.index("jawOpen")] and ARKIT_NAMES.index("jawOpen") == 17
    # 1 + (4 + 5) + (4 + 4) + 16 + 1 + 61 * 4 bytes
    assert len(packet) == 1 + 9 + 8 + 16 + 1 + 244


def test_default_device_id_is_stable_per_subject() -> None:
    a = decode(encode_packet(np.zeros(52), frame=0, fps=60))
    b = decode(encode_packet(np.zeros(52), frame=1, fps=60))
    assert a["device"] == b["device"] and len(str(a["device"])) == 36
    assert a["subject"] == "facetalk" and a["fps"] == (60, 1)


def test_sender_packets_arrive_over_udp() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5.0)
    sender = LiveLinkSender("127.0.0.1", receiver.getsockname()[1], fps=30)
    try:
        weights = np.zeros(52, np.float32)
        weights[17] = 0.75
        sender.send(weights, 7)
        got = decode(receiver.recv(2048))
    finally:
        sender.close()
        receiver.close()
    assert got["frame"] == 7 and got["values"][17] == 0.75  # type: ignore[index]


def test_bad_inputs_are_one_line_errors() -> None:
    with pytest.raises(InvalidInputError, match="52"):
        encode_packet(np.zeros(51), frame=0, fps=30)
    with pytest.raises(InvalidInputError, match="9 rotations"):
        encode_packet(np.zeros(52), frame=0, fps=30, rotations=np.zeros(3))
    assert parse_address("10.0.0.5") == ("10.0.0.5", 11111)
    assert parse_address("localhost:9000") == ("localhost", 9000)
    for bad in ("host:port", ":80", "h:70000"):
        with pytest.raises(InvalidInputError, match="HOST:PORT"):
            parse_address(bad)
