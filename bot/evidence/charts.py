"""The ``Charts`` port on matplotlib's Agg backend: a ``Chart`` in, PNG bytes out.

Agg draws into memory with no display and no GUI toolkit; each call builds its own ``Figure``
(never pyplot's global state), so charts may be drawn in several threads at once.
"""

from __future__ import annotations

import io
from datetime import UTC

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.dates import DateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.evidence.series import Chart  # noqa: E402

DPI = 100
# matplotlib's date axis counts days since 1970-01-01 (its default epoch).
DAY = 86400.0
MAX_LINES = 8


class AggCharts:
    """Line charts of series, with the threshold drawn and one instant marked."""

    def render(self, chart: Chart) -> bytes:
        """Draw ``chart`` and return it as a PNG."""
        figure = Figure(figsize=(chart.width_px / DPI, chart.height_px / DPI), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(1, 1, 1)
        for series in chart.series[:MAX_LINES]:
            times = [t / DAY for t, _ in series.points]
            axes.plot(times, [v for _, v in series.points], linewidth=1.4, label=series.name[:60])
        if chart.threshold is not None:
            axes.axhline(
                chart.threshold, color="#d62728", linestyle="--", linewidth=1.2,
                label=f"threshold {chart.threshold:g}",
            )
        if chart.marked_at is not None:
            axes.axvline(
                chart.marked_at.timestamp() / DAY, color="#ff7f0e", linestyle=":", linewidth=1.4,
                label=chart.marked_label,
            )
        axes.set_title(chart.title[:120], fontsize=10, loc="left")
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
        axes.set_xlabel("UTC", fontsize=8)
        axes.grid(True, linewidth=0.4, alpha=0.5)
        axes.tick_params(labelsize=8)
        if chart.series or chart.threshold is not None:
            axes.legend(fontsize=7, loc="upper left")
        for index, note in enumerate(chart.notes[:3]):
            figure.text(0.01, 0.01 + 0.04 * index, note[:160], fontsize=7, color="#555555")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI)
        return out.getvalue()
