"""The dependency-free PNG chart decodes as a real PNG with the bars where they belong; the sparkline scales."""

from __future__ import annotations

import struct
import zlib

from bot.chart import BACKGROUND, BAR, CAP, OVER, bar_chart_png, sparkline


def decode(png: bytes) -> tuple[int, int, list[bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + data)
        chunks[tag] = chunks.get(tag, b"") + data
        pos += 12 + length
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2) and b"IEND" in chunks
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(r[0] == 0 for r in rows)  # filter type None
    return width, height, [r[1:] for r in rows]


def pixel(rows: list[bytes], x: int, y: int) -> tuple[int, int, int]:
    return tuple(rows[y][x * 3 : x * 3 + 3])  # type: ignore[return-value]


def test_bar_chart_png_draws_bars_and_the_cap():
    values = [0.0] * 28 + [1.0, 3.0]
    png = bar_chart_png(values, cap=2.0, first_label="10-26", last_label="11-24")
    width, height, rows = decode(png)
    left, bar, gap, top_margin, plot = 60, 14, 4, 16, 160
    assert width == left + 30 * (bar + gap) + 12 and height == top_margin + plot + 28
    base = top_margin + plot
    x_day = lambda i: left + i * (bar + gap) + bar // 2  # noqa: E731
    # An empty day has no bar; a day under the cap is blue; a day over it is red, and taller.
    assert pixel(rows, x_day(0), base - 2) == BACKGROUND
    assert pixel(rows, x_day(28), base - 2) == BAR
    assert pixel(rows, x_day(29), base - 2) == OVER
    top_of = lambda i: next(y for y in range(height) if pixel(rows, x_day(i), y) in (BAR, OVER))  # noqa: E731
    assert top_of(29) < top_of(28)
    # The cap is a dashed line somewhere between the two bars' tops.
    assert any(
        pixel(rows, x, y) == CAP for y in range(top_of(29), top_of(28)) for x in range(left, left + 20)
    )


def test_sparkline():
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
