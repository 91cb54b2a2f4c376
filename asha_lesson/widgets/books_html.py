"""Rung books as an HTML string: one column per rung, bottom rung on the left.

Pure functions of a :class:`~asha_lesson.widgets.model.BooksFrame`: the same frame always gives the
same text, which is what lets a live view and a replay be compared byte for byte. Styles are
inline (a ``<style>`` block scoped by class), so the HTML works in any widget front end without
custom JavaScript.
"""

from __future__ import annotations

import html
import math

from .model import STATUSES, BooksFrame, Column, Row

__all__ = ["STATUS_COLORS", "render_books"]

# (background, text) per status; promoted and continued both "went on", in two greens.
STATUS_COLORS = {
    "paused": ("#9ecae1", "#08306b"),
    "promoted": ("#2ca02c", "#ffffff"),
    "continued": ("#98df8a", "#0b3d0b"),
    "stopped": ("#d62728", "#ffffff"),
    "finished": ("#ff7f0e", "#ffffff"),
}
RECENT_COLORS = ("#ffd43b", "#ffe98a", "#fff5cc")  # age 0, 1, 2+: the latest change is boldest

_SCHEDULER_NAMES = {"asha_promotion": "ASHA, promotion variant",
                    "asha_stopping": "ASHA, stopping variant",
                    "synchronous_sh": "synchronous successive halving"}

_STYLE = """
.asha-rb{font-family:var(--jp-ui-font-family,sans-serif);font-size:12px;line-height:1.25;
 color:#1f2328;background:#ffffff;padding:6px 8px;border-radius:6px;border:1px solid #d0d7de}
.asha-rb-title{font-size:13px;margin-bottom:4px}
.asha-rb-title b{font-size:14px}
.asha-rb-caption{color:#57606a;margin-bottom:6px;min-height:1.25em}
.asha-rb-cols{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.asha-rb-col{box-sizing:border-box;flex:1 1 0;min-width:160px;max-width:320px;
 border:1px solid #d0d7de;
 border-radius:5px;background:#f6f8fa;padding:4px;container-type:inline-size}
.asha-rb-colhead{text-align:center;padding:2px 0 4px 0;border-bottom:1px solid #d0d7de;
 margin-bottom:2px}
.asha-rb-colhead .lvl{font-weight:700;font-size:13px}
.asha-rb-colhead .nt{color:#57606a}
.asha-rb table{border-collapse:collapse;width:100%;table-layout:fixed;background:#ffffff;
 font-size:inherit}
.asha-rb td{padding:1px 3px;white-space:nowrap;overflow:hidden;text-overflow:clip;
 font-variant-numeric:tabular-nums;height:17px}
.asha-rb td.rk{width:26px;text-align:right;color:#57606a;padding-left:0}
.asha-rb td.id{width:44px;font-weight:600}
.asha-rb td.st{width:92px;text-align:right}
.asha-rb tr.top td.rk{border-left:4px solid #2b8a3e}
.asha-rb tr.rest td.rk{border-left:4px solid transparent}
.asha-rb tr.cut td{border-bottom:3px solid #1f2328}
.asha-rb tr.gone td.id,.asha-rb tr.gone td.vl{color:#8c959f}
.asha-rb .vlw{display:flex;align-items:center;gap:4px}
.asha-rb .num{flex:0 0 auto}
.asha-rb .bar{flex:1 1 auto;height:9px;max-width:70px;background:#eef1f4;border-radius:2px;
 overflow:hidden}
.asha-rb .bar i{display:block;height:100%;background:#8fa9c4}
.asha-rb .chip{display:inline-block;padding:0 5px;border-radius:8px;font-size:11px}
.asha-rb .gap td{text-align:center;color:#57606a;height:13px;line-height:1}
.asha-rb .more{color:#57606a;padding:3px 2px 0 2px;white-space:normal}
.asha-rb .way{color:#1f2328;padding:3px 2px 0 2px;white-space:normal;border-top:1px dashed #afb8c1;
 margin-top:3px}
.asha-rb .empty{color:#8c959f;font-style:italic;padding:6px 2px;text-align:center}
.asha-rb-legend{margin-top:6px;color:#57606a;display:flex;flex-wrap:wrap;gap:4px 10px;
 align-items:center}
.asha-rb-legend .cutkey{display:inline-block;width:22px;border-bottom:3px solid #1f2328;
 vertical-align:middle}
.asha-rb-legend .topkey{display:inline-block;width:4px;height:12px;background:#2b8a3e;
 vertical-align:middle}
@container (max-width: 232px){
 .asha-rb table{font-size:11px}
 .asha-rb td{padding:1px 2px}
 .asha-rb td.rk{width:20px}
 .asha-rb td.id{width:31px;padding:1px 3px 1px 1px}
 .asha-rb td.st{width:49px;padding:1px 0}
 .asha-rb .chip{padding:0 3px;font-size:10px}
 .asha-rb .long{display:none}
 .asha-rb .bar{display:none}
}
"""


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.4g}"


def _chip(status: str, text: str | None = None, *, escape: bool = True) -> str:
    background, color = STATUS_COLORS.get(status, ("#d0d7de", "#1f2328"))
    text = text or status
    return (f'<span class="chip" style="background:{background};color:{color}">'
            f"{html.escape(text) if escape else text}</span>")


def _row(row: Row, column: Column, scale: float, star: bool) -> str:
    classes = ["top" if row.in_top else "rest"]
    if row.in_top and row.rank == column.top_count and not column.is_last:
        classes.append("cut")
    if row.status == "stopped":
        classes.append("gone")
    style = ""
    if row.age is not None:  # a recent change: the latest in the strongest yellow
        color = RECENT_COLORS[min(row.age, len(RECENT_COLORS) - 1)]
        style = f' style="background:{color}"'
    width = 0.0 if scale <= 0 else max(0.0, min(1.0, abs(row.value) / scale)) * 100
    bar = f'<span class="bar"><i style="width:{width:.1f}%"></i></span>'
    label = html.escape(row.status)
    if row.status == "promoted" and row.promoted_to is not None:
        # In a narrow column (a container query hides .long) this reads "↑27".
        label = f'<span class="long">promoted </span>↑{row.promoted_to}'
    elif row.status == "continued":
        label = 'cont<span class="long">inued</span>'
    rank = "★" if star else str(row.rank)
    trial = f"#{row.trial_id}"
    return (f'<tr class="{" ".join(classes)}"{style}><td class="rk">{rank}</td>'
            f'<td class="id">{trial}</td>'
            f'<td class="vl"><div class="vlw"><span class="num">{_fmt(row.value)}</span>'
            f"{bar}</div></td>"
            f'<td class="st">{_chip(row.status, label, escape=False)}</td></tr>')


def _column(column: Column, eta: int, scale: float, resource: str) -> str:
    unit = resource if resource != "epoch" else ("epoch" if column.level == 1 else "epochs")
    if column.is_last:
        rule = f"n = {column.n} · final rung r_max"
    elif column.n < eta:
        rule = f"n = {column.n} · top ⌊{column.n}/{eta}⌋ = 0: nothing promotable yet"
    else:
        rule = f"n = {column.n} · top ⌊{column.n}/{eta}⌋ = {column.top_count}"
    head = (f'<div class="asha-rb-colhead"><span class="lvl">rung {column.level}</span> '
            f'<span class="nt">({column.level} {unit})</span><br>{rule}</div>')
    body = []
    for i, row in enumerate(column.rows):
        if i == column.cut_after:
            body.append('<tr class="gap"><td colspan="4">⋯</td></tr>')
        star = column.is_last and row.rank == 1
        body.append(_row(row, column, scale, star))
    parts = [head]
    if body:
        parts.append(f'<table>{"".join(body)}</table>')
    else:
        parts.append('<div class="empty">no results yet</div>')
    if column.hidden:
        counts = ", ".join(f"{count} {status}" for status, count in column.hidden_statuses)
        parts.append(f'<div class="more">… and {column.hidden} more ({counts})</div>')
    if column.incoming:
        shown = column.incoming[:6]
        names = ", ".join(f"#{tid}" + (f" ↑ from {source}" if source is not None else "")
                          for tid, source in shown)
        extra = len(column.incoming) - len(shown)
        more = f" and {extra} more" if extra else ""
        parts.append(f'<div class="way">training toward this rung: {names}{more}</div>')
    return f'<div class="asha-rb-col">{"".join(parts)}</div>'


def _legend(frame: BooksFrame) -> str:
    chips = " ".join(_chip(status) for status in STATUSES)
    recent = (f'<span class="chip" style="background:{RECENT_COLORS[0]};color:#1f2328">'
              "latest change</span> (paler: the changes before)")
    return (f'<div class="asha-rb-legend"><span>{chips}</span>'
            f'<span><span class="topkey"></span> best ⌊n/η⌋ of the rung, above '
            f'<span class="cutkey"></span> the cut (promotable)</span>'
            f"<span>{recent}</span><span>★ the best at r_max</span></div>")


def render_books(frame: BooksFrame, *, title: str | None = None) -> str:
    """The HTML of one frame of the rung books."""
    if not frame.started:
        return (f'<div class="asha-rb"><style>{_STYLE}</style>'
                f'<div class="asha-rb-caption">{html.escape(frame.caption)}</div></div>')
    name = _SCHEDULER_NAMES.get(frame.scheduler, frame.scheduler)
    cohort = f" · bracket run {frame.cohort + 1}" if frame.scheduler == "synchronous_sh" else ""
    bracket = f" · bracket s = {frame.bracket}" if frame.bracket else ""
    direction = "smaller is better" if frame.mode == "min" else "larger is better"
    heading = title if title is not None else "Rung books"
    state = " · ended" if frame.ended else ""
    top = (f'<div class="asha-rb-title"><b>{html.escape(heading)}</b> — {html.escape(name)} · '
           f"η = {frame.eta}{cohort}{bracket} · t = {frame.time:.1f} s{state} · "
           f"{html.escape(frame.metric)}, {direction}, best first</div>")
    caption = (f'<div class="asha-rb-caption">latest: {html.escape(frame.caption)}</div>'
               if frame.caption else '<div class="asha-rb-caption">&nbsp;</div>')
    values = [abs(row.value) for column in frame.columns for row in column.rows
              if math.isfinite(row.value)]
    scale = max(values, default=1.0)
    columns = "".join(_column(column, frame.eta, scale, frame.resource_attr)
                      for column in frame.columns)
    return (f'<div class="asha-rb"><style>{_STYLE}</style>{top}{caption}'
            f'<div class="asha-rb-cols">{columns}</div>{_legend(frame)}</div>')
