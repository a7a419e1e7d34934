"""Epic's Live Link Face app CSV (shared FORMATS.md §6).

Header `Timecode,BlendShapeCount,` then 61 PascalCase columns in the app's order, which is the ARKit
canonical order except that JawRight comes before JawLeft and MouthRight before MouthLeft, followed
by the 9 head and eye rotations. `BlendShapeCount` is always 61.

Timecode `HH:MM:SS:FF.fff`: FF counts frames of the timecode rate R (the app's rate; here `fps=`,
default the motion's fps, rounded to an integer) and `.fff` is the sub-frame fraction in
thousandths. Frame i of the motion sits at t = i / motion.fps, written as the timecode of that time
counted from 00:00:00:00, so with the default R = motion fps every fraction is `.000`; with R = 30
and 60 fps motion the fractions alternate `.000`/`.500`, as the app writes them. Weights are written
as the shortest decimal that reads back as the same float32, so a write-read round trip is exact,
a few thousand rows at a time.

The reader matches columns by name, case-insensitively, never by position; extra columns are
ignored, missing blendshapes are zero. It returns the 52 ARKit channels in canonical order, plus the
9 rotations when `keep_rotations` is set. Rows are taken as consecutive frames (a capture's dropped
frames are not re-timed). The frame rate, unless given, is the number of rows per complete second of
timecode (for the app's integer rates this is exact; an average within 0.5 % of an integer is
rounded to it), or, when the clip holds no complete second, the rate the frame counter wraps at
divided by the median timecode step.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.export.base import ExportResult, Format, ReadOptions, WriteOptions, frame_chunks, register_format, weights_in
from facetalk.face.arkit import ARKIT_NAMES, HEAD_AND_EYE_ROTATIONS
from facetalk.files import atomic_output
from facetalk.types import Motion

LIVELINK_NAMES: tuple[str, ...] = (*ARKIT_NAMES, *HEAD_AND_EYE_ROTATIONS)
"""The 61 values of the app in canonical (UDP packet) order, camelCase blendshapes."""

_APP_SWAPS = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
APP_COLUMN_ORDER: tuple[str, ...] = tuple(_APP_SWAPS.get(name, name) for name in LIVELINK_NAMES)
"""The 61 values in the order of the app's CSV columns (canonical names)."""

CSV_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount", *(name[0].upper() + name[1:] for name in APP_COLUMN_ORDER))
BLENDSHAPE_COUNT = len(LIVELINK_NAMES)
MILLI = 1000  # the timecode's sub-frame fraction has three decimals
SECONDS_PER_DAY = 86400
FPS_ROUNDING = 0.005  # derived rates this close (relatively) to an integer are that integer

_TIMECODE = re.compile(r"^\s*(\d+):(\d+):(\d+)[:;](\d+)(?:\.(\d+))?\s*$")


def write_livelink_csv(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    values = weights_in(motion, LIVELINK_NAMES, path, "Live Link Face values (ARKit-52 and the 9 rotations)")
    order = [LIVELINK_NAMES.index(name) for name in APP_COLUMN_ORDER]
    rate = options.fps if options.fps is not None else motion.fps
    if not (math.isfinite(rate) and rate > 0):
        raise InvalidInputError(f"{path}: timecode rate must be positive, got {rate}")
    counter = max(1, round(rate))
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(",".join(CSV_HEADER) + "\n")
        for start, cells in frame_chunks(values[:, order]):
            f.writelines(f"{_timecode(start + i, motion.fps, counter)},{BLENDSHAPE_COUNT},{','.join(row)}\n"
                         for i, row in enumerate(cells.tolist()))  # fmt: skip
    return ExportResult(path, "livelink-csv", motion.num_frames)


def _timecode(frame: int, fps: float, counter: int) -> str:
    """`HH:MM:SS:FF.fff` of frame `frame` of a motion at `fps`, with a frame counter at `counter` Hz."""
    thousandths = round(frame * counter * MILLI / fps)  # time in thousandths of a timecode frame
    whole, fraction = divmod(thousandths, MILLI)
    seconds, ff = divmod(whole, counter)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}.{fraction:03d}"


def read_livelink_csv(path: Path, options: ReadOptions) -> Motion:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read as a text file ({exc})") from None
    # Trailing empty cells (a trailing comma on some lines) are not columns.
    rows = [_trim(row) for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise InvalidInputError(f"{path}: empty file, expected a Live Link Face CSV header")
    header = [cell.strip().lower() for cell in rows[0]]
    wanted = LIVELINK_NAMES if options.keep_rotations else ARKIT_NAMES
    columns = {name: header.index(name.lower()) for name in wanted if name.lower() in header}
    if not any(name in columns for name in ARKIT_NAMES):
        raise InvalidInputError(f"{path}: not a Live Link Face CSV (no ARKit blendshape column in the header)")
    timecode_column = header.index("timecode") if "timecode" in header else None

    data = np.zeros((len(rows) - 1, len(wanted)), dtype=np.float32)
    timecodes: list[tuple[int, int, float]] = []
    for t, row in enumerate(rows[1:]):
        line = t + 2
        if len(row) != len(header):
            raise InvalidInputError(f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        for j, name in enumerate(wanted):
            if name in columns:
                data[t, j] = _number(row[columns[name]], path, line)
        if timecode_column is not None:
            timecodes.append(_parse_timecode(row[timecode_column], path, line))
    if not np.isfinite(data).all():
        raise InvalidInputError(f"{path}: non-finite blendshape values")
    if options.fps is not None:
        fps = options.fps
    elif timecode_column is None:
        raise InvalidInputError(f"{path}: no Timecode column to derive the frame rate from; pass fps=")
    else:
        fps = _derive_fps(timecodes, path)
    return Motion(data, fps, "blendshapes", wanted)


def _trim(row: list[str]) -> list[str]:
    while row and not row[-1].strip():
        row = row[:-1]
    return row


def _number(cell: str, path: Path, line: int) -> float:
    try:
        return float(cell)
    except ValueError:
        raise InvalidInputError(f"{path}: line {line} has a value that is not a number: {cell!r}") from None


def _parse_timecode(cell: str, path: Path, line: int) -> tuple[int, int, float]:
    """(seconds since midnight, frame counter, sub-frame fraction) of `HH:MM:SS:FF[.fff]`."""
    match = _TIMECODE.match(cell)
    if match is None:
        raise InvalidInputError(f"{path}: line {line} has a timecode not of the form HH:MM:SS:FF.fff: {cell!r}")
    hh, mm, ss, ff = (int(match.group(k)) for k in range(1, 5))
    fraction = float("0." + match.group(5)) if match.group(5) else 0.0
    return hh * 3600 + mm * 60 + ss, ff, fraction


def _derive_fps(timecodes: list[tuple[int, int, float]], path: Path) -> float:
    if len(timecodes) < 2:
        raise InvalidInputError(f"{path}: too few rows to derive the frame rate; pass fps=")
    seconds = np.array([tc[0] for tc in timecodes], dtype=np.int64)
    frames = np.array([tc[1] + tc[2] for tc in timecodes])  # position within the second, in timecode frames
    seconds = seconds + SECONDS_PER_DAY * np.concatenate([[0], np.cumsum(np.diff(seconds) < -SECONDS_PER_DAY // 2)])
    first, last = int(seconds[0]), int(seconds[-1])
    # A second is complete when the clip runs through all of it: every second strictly inside the
    # clip, and the first one too when the clip starts on its frame 0.
    complete = list(range(first + 1, last))
    if last > first and frames[0] == 0:
        complete.append(first)
    if complete:
        counts = np.array([np.count_nonzero(seconds == s) for s in complete])
        fps = float(counts.mean())
        if abs(fps - round(fps)) <= FPS_ROUNDING * fps:
            fps = float(round(fps))
    elif last > first:
        counter = int(max(tc[1] for tc in timecodes)) + 1  # the frame counter wraps at the timecode rate
        times = seconds + frames / counter
        step = float(np.median(np.diff(times)))
        if step <= 0:
            raise InvalidInputError(f"{path}: timecodes do not increase; pass fps=")
        fps = 1.0 / step
    else:
        raise InvalidInputError(f"{path}: timecodes span less than a second, too little to derive the frame rate; pass fps=")
    if fps <= 0:
        raise InvalidInputError(f"{path}: cannot derive the frame rate from the timecodes; pass fps=")
    return fps


LIVELINK_CSV = register_format(Format("livelink-csv", (".csv",), ("blendshapes",), write_livelink_csv, read_livelink_csv))
