"""Evidence from metrics: what a series says, and whether a fix held.

    series.py      values: samples, series, their summary, the expression and threshold an
                   alert carries, what a chart shows (pure)
    verdicts.py    the post-action verification decision (pure)
    prometheus.py  the ``Metrics`` port on Prometheus's HTTP API (adapter, aiohttp)
    charts.py      the ``Charts`` port on matplotlib's Agg backend: PNG bytes out (adapter)

The pipeline imports only the pure modules; ``bot/compose`` builds the adapters.
"""
