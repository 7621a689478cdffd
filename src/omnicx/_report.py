"""``omnicx report --html``: the KPIs as one self-contained HTML file.

The page comes from a Jinja2 template (``templates/report.html.j2``, with
autoescaping on: channel and agent names are data) and its charts from
pygal, which renders SVG on the server: the file embeds everything and opens
without a network or JavaScript. Both are the ``report`` extra; without it,
`render_html` says what to install.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from ._errors import ConfigurationError
from ._kpis import KpiReport

__all__ = ["render_html"]

_MISSING = "the HTML report needs the report extra: pip install 'omnicx[report]'"


def _minutes(value: dt.timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 1)


def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "\u2013"
    seconds = int(value.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    hours, rest = divmod(seconds, 3600)
    if hours < 48:
        return f"{hours} h {rest // 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def _percent(value: float | None) -> str:
    return "\u2013" if value is None else f"{value:.0%}"


def _import_pygal() -> Any:
    import pygal

    # pygal appends a legacy finder (for its map plugins, unused here) to
    # sys.meta_path; every failing import in the process would then warn
    # (ImportWarning: find_spec() not found). Take it out again.
    sys.meta_path[:] = [f for f in sys.meta_path
                        if type(f).__name__ != "PluginImportFixer"
                        or not type(f).__module__.startswith("pygal")]
    return pygal


def _charts(report: KpiReport) -> dict[str, str]:
    pygal = _import_pygal()
    from pygal.style import Style

    style = Style(background="white", plot_background="white", font_family="sans-serif",
                  colors=("#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626",
                          "#ca8a04", "#4b5563"))
    options: dict[str, Any] = {"style": style, "width": 760, "height": 300,
                               "disable_xml_declaration": True, "legend_at_bottom": True,
                               "x_label_rotation": 30,
                               "truncate_legend": 30, "js": []}
    charts = {}
    days = [day for day, _ in report.channel_mix]
    channels = sorted({c for _, mix in report.channel_mix for c in mix})
    over_time = {**options, "show_minor_x_labels": False}
    mix = pygal.StackedBar(title="Customer messages by channel", **over_time)
    mix.x_labels = [d.isoformat() for d in days]
    mix.x_labels_major = mix.x_labels[:: max(len(days) // 10, 1)]
    for channel in channels:
        mix.add(channel, [dict(m).get(channel, 0) for _, m in report.channel_mix])
    charts["mix"] = mix.render(is_unicode=True)
    peak = max((n for _, n in report.backlog), default=0)
    backlog = pygal.Line(title="Backlog (unresolved conversations)", fill=True,
                         range=(0, max(peak, 1)), **over_time)
    backlog.x_labels = [at.strftime("%Y-%m-%d %H:%M") for at, _ in report.backlog]
    backlog.x_labels_major = backlog.x_labels[:: max(len(report.backlog) // 10, 1)]
    backlog.add("backlog", [n for _, n in report.backlog])
    charts["backlog"] = backlog.render(is_unicode=True)
    groups = report.groups or (report.total,)
    response = pygal.Bar(title="Response and resolution (median, minutes)", **options)
    response.x_labels = [g.key for g in groups]

    def medians(pick: Any) -> list[float | None]:
        return [_minutes(pick(g).median) for g in groups]

    response.add("first response", medians(lambda g: g.first_response))
    response.add("next response", medians(lambda g: g.next_response))
    response.add("resolution", medians(lambda g: g.resolution))
    charts["response"] = response.render(is_unicode=True)
    return charts


def render_html(report: KpiReport, *, title: str = "omnicx service report") -> str:
    """The report as one HTML document (inline SVG charts, inline CSS)."""
    try:
        import jinja2
        import markupsafe
    except ImportError as exc:
        raise ConfigurationError(_MISSING) from exc
    try:
        charts = _charts(report)
    except ImportError as exc:
        raise ConfigurationError(_MISSING) from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("omnicx", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    env.filters["duration"] = _duration
    env.filters["percent"] = _percent
    template = env.get_template("report.html.j2")
    return template.render(
        title=title, report=report, charts={k: markupsafe.Markup(v) for k, v in charts.items()},
        groups=report.groups, total=report.total,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
