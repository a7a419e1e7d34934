"""Live Link Face UDP packets: what Epic's iOS app sends to Unreal's Live Link (and Blender receivers) on port 11111.

The layout (packet version 6, as Unreal's AppleARKitFaceSupport plugin reads it; all multi-byte
values big-endian, the network byte order of Unreal's serializer):

    uint8    packet version (6)
    int32    device id length N, then N bytes of the device id (UTF-8)
    int32    subject name length M, then M bytes of the subject name (UTF-8)
    int32    frame number         \\
    float32  sub-frame (0..1)      | the frame's qualified time: frame number at fps / denominator
    int32    fps numerator         |
    int32    fps denominator      /
    uint8    value count (61)
    61 x float32: the 52 ARKit weights in canonical order, then HeadYaw, HeadPitch, HeadRoll,
             LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll

Unreal names the source by the subject name; a receiver keeps one subject per device id. The
9 rotations are sent as given (zeros unless a caller has head and eye motion).
"""

from __future__ import annotations

import socket
import struct
import uuid

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.export.livelink_csv import BLENDSHAPE_COUNT
from facetalk.face.arkit import HEAD_AND_EYE_ROTATIONS, NUM_ARKIT

PACKET_VERSION = 6
DEFAULT_PORT = 11111
DEFAULT_SUBJECT = "facetalk"
_HEADER = struct.Struct(">B")
_LENGTH = struct.Struct(">i")
_TIME = struct.Struct(">ifii")  # frame number, sub-frame, fps numerator, fps denominator
_VALUES = struct.Struct(f">B{BLENDSHAPE_COUNT}f")


def encode_packet(weights: np.ndarray, *, frame: int, fps: int, subject: str = DEFAULT_SUBJECT, device_id: str = "",
                  rotations: np.ndarray | None = None, sub_frame: float = 0.0) -> bytes:  # fmt: skip
    """One Live Link Face packet.

    Args:
        weights: the 52 ARKit weights, canonical order.
        frame: the frame number at `fps`.
        fps: frames per second (the numerator; the denominator is 1).
        subject: the subject name Unreal lists the source under.
        device_id: identifies the sender; default a fixed id derived from the subject.
        rotations: the 9 head and eye rotations (`HEAD_AND_EYE_ROTATIONS`); default zeros.
        sub_frame: the fraction of a frame past `frame`, in [0, 1).
    """
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    if len(weights) != NUM_ARKIT:
        raise InvalidInputError(f"a Live Link packet takes {NUM_ARKIT} ARKit weights, got {len(weights)}")
    extra = np.zeros(len(HEAD_AND_EYE_ROTATIONS), np.float32) if rotations is None else np.asarray(rotations, np.float32)
    if extra.shape != (len(HEAD_AND_EYE_ROTATIONS),):
        raise InvalidInputError(f"a Live Link packet takes {len(HEAD_AND_EYE_ROTATIONS)} rotations, got {extra.size}")
    device = (device_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{subject}.facetalk"))).encode()
    name = subject.encode()
    return b"".join((
        _HEADER.pack(PACKET_VERSION),
        _LENGTH.pack(len(device)), device,
        _LENGTH.pack(len(name)), name,
        _TIME.pack(frame, sub_frame, fps, 1),
        _VALUES.pack(BLENDSHAPE_COUNT, *weights.tolist(), *extra.tolist()),
    ))  # fmt: skip


def parse_address(address: str, *, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """`HOST:PORT` (or `HOST`, on the default port) as (host, port); a one-line error otherwise."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", str(default_port))
    try:
        number = int(port)
    except ValueError:
        raise InvalidInputError(f"{address!r} is not HOST:PORT") from None
    if not host or not 0 < number < 65536:
        raise InvalidInputError(f"{address!r} is not HOST:PORT with a port in 1..65535")
    return host, number


class LiveLinkSender:
    """Sends frames as Live Link Face packets over UDP.

    Args:
        host: the receiver (the machine running Unreal or Blender).
        port: its Live Link Face port.
        fps: the frame rate packets are stamped with.
        subject: the subject name.
    """

    def __init__(self, host: str, port: int = DEFAULT_PORT, *, fps: int = 30, subject: str = DEFAULT_SUBJECT) -> None:
        self.address = (host, port)
        self.fps = fps
        self.subject = subject
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, weights: np.ndarray, frame: int) -> int:
        """Send one frame's 52 weights; returns the bytes sent."""
        return self.socket.sendto(encode_packet(weights, frame=frame, fps=self.fps, subject=self.subject), self.address)

    def close(self) -> None:
        self.socket.close()
