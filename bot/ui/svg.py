"""Server-side SVG bar charts of daily spend (no script, no external asset; text for screen readers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

W, H, PAD_L, PAD_B, PAD_T = 600, 180, 56, 24, 12


def bars(series: Sequence[tuple[date, float]], *, title: str, cap: float | None = None) -> str:
    """Return an ``<svg>`` of one bar per day, a dashed cap line when there is a cap, and a title."""
    values = [v for _, v in series]
    top = max([*values, cap or 0.0, 1e-9])
    inner_w, inner_h = W - PAD_L - 8, H - PAD_B - PAD_T
    n = max(1, len(values))
    step = inner_w / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_L}" y1="{PAD_T + inner_h}" x2="{W - 8}" y2="{PAD_T + inner_h}"/>',
        f'<text class="label" x="{PAD_L - 4}" y="{PAD_T + 8}" text-anchor="end">${top:.2f}</text>',
        f'<text class="label" x="{PAD_L - 4}" y="{PAD_T + inner_h}" text-anchor="end">$0</text>',
    ]
    for i, (day, v) in enumerate(series):
        h = inner_h * v / top
        x = PAD_L + i * step + step * 0.15
        over = cap is not None and v > cap
        parts.append(
            f'<rect class="bar{" over" if over else ""}" x="{x:.1f}" y="{PAD_T + inner_h - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}"><title>{day:%Y-%m-%d}: ${v:.4f}</title></rect>'
        )
    if cap is not None:
        y = PAD_T + inner_h - inner_h * cap / top
        parts.append(f'<line class="cap" x1="{PAD_L}" y1="{y:.1f}" x2="{W - 8}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="label cap-label" x="{W - 8}" y="{y - 3:.1f}" text-anchor="end">cap ${cap:.2f}</text>'
        )
    if series:
        parts.append(f'<text class="label" x="{PAD_L}" y="{H - 6}">{series[0][0]:%m-%d}</text>')
        parts.append(
            f'<text class="label" x="{W - 8}" y="{H - 6}" text-anchor="end">{series[-1][0]:%m-%d}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
