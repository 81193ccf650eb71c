"""Small charts of daily spend: a text sparkline, and a PNG bar chart written with zlib and struct only."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"

RGB = tuple[int, int, int]
BACKGROUND: RGB = (255, 255, 255)
AXIS: RGB = (150, 150, 150)
BAR: RGB = (52, 101, 164)
OVER: RGB = (204, 0, 0)  # a day over its cap
CAP: RGB = (239, 41, 41)
INK: RGB = (40, 40, 40)

# A 3x5 pixel font for the labels (dollars and dates): each glyph is five rows of three bits.
_FONT = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "$": ("011", "110", "010", "011", "110"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    " ": ("000", "000", "000", "000", "000"),
}


def sparkline(values: Sequence[float]) -> str:
    """Return one block character per value, scaled to the largest (zero is the lowest block)."""
    top = max(values, default=0.0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(math.ceil(v / top * (len(BLOCKS) - 1)), len(BLOCKS) - 1)] for v in values)


class Canvas:
    """An RGB pixel buffer that can draw rectangles and text and encode itself as PNG."""

    def __init__(self, width: int, height: int, background: RGB = BACKGROUND) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: RGB) -> None:
        """Fill the rectangle [x0, x1) x [y0, y1), clipped to the canvas."""
        x0, x1 = max(x0, 0), min(x1, self.width)
        for y in range(max(y0, 0), min(y1, self.height)):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + (x1 - x0) * 3] = bytes(color) * max(x1 - x0, 0)

    def text(self, x: int, y: int, label: str, color: RGB = INK, scale: int = 2) -> None:
        """Draw a label in the 3x5 font (characters it lacks are left out)."""
        for ch in label:
            glyph = _FONT.get(ch)
            if glyph is None:
                continue
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        px, py = x + col * scale, y + row * scale
                        self.rect(px, py, px + scale, py + scale, color)
            x += 4 * scale

    def png(self) -> bytes:
        """Encode as an 8-bit RGB PNG."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def bar_chart_png(
    values: Sequence[float],
    *,
    cap: float | None = None,
    first_label: str = "",
    last_label: str = "",
    bar_width: int = 14,
    gap: int = 4,
    plot_height: int = 160,
) -> bytes:
    """Return a PNG bar chart of daily dollars, with the daily cap as a line and the largest value labelled."""
    left, top_margin, bottom_margin, right = 60, 16, 28, 12
    width = left + len(values) * (bar_width + gap) + right
    height = top_margin + plot_height + bottom_margin
    c = Canvas(width, height)
    top = max([*values, cap or 0.0, 0.0]) * 1.1 or 1.0
    base = top_margin + plot_height

    def y_of(v: float) -> int:
        return base - round(v / top * plot_height)

    for i, v in enumerate(values):
        x = left + i * (bar_width + gap)
        if v > 0:
            c.rect(
                x, min(y_of(v), base - 1), x + bar_width, base, OVER if cap is not None and v > cap else BAR
            )
    c.rect(left - 2, top_margin, left, base + 1, AXIS)
    c.rect(left - 2, base, width - right, base + 2, AXIS)
    biggest = max(values, default=0.0)
    if cap is None or abs(y_of(biggest) - y_of(cap)) >= 12:  # labels would overlap
        c.text(4, y_of(biggest) - 5, f"${biggest:.2f}")
    if cap is not None:
        y = y_of(cap)
        for x in range(left, width - right, 8):
            c.rect(x, y, x + 5, y + 2, CAP)
        c.text(4, y - 5, f"${cap:.2f}", CAP)
    c.text(left, base + 10, first_label)
    c.text(width - right - len(last_label) * 8, base + 10, last_label)
    return c.png()
