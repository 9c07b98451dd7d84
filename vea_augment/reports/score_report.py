"""Human-readable renderings of a :class:`ScoreReport`: a Markdown summary and a bar chart PNG.

Nothing here computes a metric; every number comes from the report (see
:mod:`vea_augment.steps.score`). matplotlib is imported inside the plotting function only, so
importing this module (or the package) does not pull it in or touch its backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vea_augment.schemas.report import (
    Interval,
    MethodScores,
    ProtocolInfo,
    ScoreReport,
    SeeingNotBelieving,
)
from vea_augment.steps.score import BASE_METHOD, METHOD_ORDER, NO_REFERENCES_POLICY, MalformedLine

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MISSING = "—"
MAX_LISTED_MALFORMED = 20
CHANCE_AUROC = 0.5
FIGURE_INCHES = (8.0, 5.0)
FIGURE_DPI = 100


# --------------------------------------------------------------------------------------------
# Number formatting


def percent(value: float | None) -> str:
    """A fraction as a percentage with one decimal ("75.0"), or an em dash for None."""
    return MISSING if value is None else f"{100 * value:.1f}"


def points(value: float | None) -> str:
    """A difference of fractions in signed percentage points ("+25.0"), or an em dash."""
    return MISSING if value is None else f"{100 * value:+.1f}"


def interval_cell(interval: Interval | None, signed: bool = False) -> str:
    """ "75.0 [50.0, 100.0]" (or signed points), the bracket only when the interval has bounds."""
    if interval is None or interval.value is None:
        return MISSING
    fmt = points if signed else percent
    if interval.low is None or interval.high is None:
        return fmt(interval.value)
    return f"{fmt(interval.value)} [{fmt(interval.low)}, {fmt(interval.high)}]"


def _cell_text(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------------------------
# Markdown


def _datasets(report: ScoreReport) -> list[str]:
    """Dataset labels in row order, each once."""
    return list(dict.fromkeys(row.dataset for row in report.rows))


def metric_labels(report: ScoreReport) -> dict[str, str]:
    """Metric id -> column label, from the report's protocols."""
    return {
        metric: label for protocol in report.protocols for metric, label in protocol.metrics.items()
    }


def _dataset_metrics(rows: Sequence[MethodScores]) -> list[str]:
    """The metric ids of a dataset's rows, in the order the rows list them, each once."""
    return list(dict.fromkeys(metric for row in rows for metric in row.scores))


def table_header(report: ScoreReport, metrics: Sequence[str]) -> list[str]:
    """The header and alignment lines of a dataset table: the decision metric with its
    interval, every other metric, the decision metric's gain over base, wins/losses."""
    labels = metric_labels(report)
    decision = labels.get(report.decision_metric, report.decision_metric)
    cells = ["method", "n", "errors"]
    cells += [
        f"{labels.get(metric, metric)} [95% CI]"
        if metric == report.decision_metric
        else labels.get(metric, metric)
        for metric in metrics
    ]
    cells += [f"Δ{decision} vs base [CI]", "wins/losses"]
    align = ["---", "---:", "---:"] + [
        "---" if metric == report.decision_metric else "---:" for metric in metrics
    ]
    align += ["---", "---:"]
    return ["| " + " | ".join(cells) + " |", "|" + "|".join(align) + "|"]


def method_table_row(row: MethodScores, metrics: Sequence[str], decision: str) -> str:
    """One Markdown table line for a method row (the columns of :func:`table_header`)."""
    cells = [_cell_text(row.method), str(row.n), str(row.errors)]
    for metric in metrics:
        interval = row.scores.get(metric)
        if metric == decision:
            cells.append(interval_cell(interval))
        else:
            cells.append(percent(interval.value) if interval is not None else MISSING)
    cells.append(interval_cell(row.gain_over_base.get(decision), signed=True))
    cells.append(MISSING if row.wins is None else f"{row.wins}/{row.losses}")
    return "| " + " | ".join(cells) + " |"


def dataset_section(report: ScoreReport, dataset: str) -> list[str]:
    """The heading and method table of one dataset."""
    rows = [row for row in report.rows if row.dataset == dataset]
    metrics = _dataset_metrics(rows)
    return [
        f"## Dataset `{dataset}`",
        "",
        *table_header(report, metrics),
        *(method_table_row(row, metrics, report.decision_metric) for row in rows),
        "",
    ]


def _auroc(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f}"


def seeing_not_believing_reading(entry: SeeingNotBelieving) -> str:
    """One sentence saying what the split of one dataset shows."""
    right, wrong = entry.auroc_when_base_right, entry.auroc_when_base_wrong
    name = f"On `{entry.dataset}`"
    if wrong is None:
        return f"{name}, base was never wrong on a sample with an AUROC, so there is no split."
    if right is None:
        return (
            f"{name}, base was never right on a sample with an AUROC; when wrong, the masks "
            f"reach AUROC {wrong:.3f}."
        )
    verdict = (
        "the evidence is still located better than chance when the answer is wrong "
        "(seeing but not believing)"
        if wrong > CHANCE_AUROC
        else "the evidence is not located when the answer is wrong (no sign of seeing but "
        "not believing)"
    )
    return (
        f"{name}, the masks reach AUROC {wrong:.3f} when base answers wrong versus {right:.3f} "
        f"when it answers right: {verdict}."
    )


def seeing_not_believing_section(report: ScoreReport) -> list[str]:
    """The seeing-not-believing table with its reading, or a line saying it is not available."""
    lines = ["## Seeing but not believing", ""]
    if not report.seeing_not_believing:
        return [*lines, "No base prediction carries an attribution AUROC; no split to show.", ""]
    lines += [
        "Pixel-level AUROC of the evidence masks (0.5 = chance), base predictions split by "
        f"whether base answered right (full credit on `{report.decision_metric}`).",
        "",
        "| dataset | AUROC, base right | AUROC, base wrong | n right | n wrong | n without AUROC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for entry in report.seeing_not_believing:
        cells = [
            _cell_text(entry.dataset),
            _auroc(entry.auroc_when_base_right),
            _auroc(entry.auroc_when_base_wrong),
            str(entry.n_right),
            str(entry.n_wrong),
            str(entry.n_without_auroc),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {seeing_not_believing_reading(entry)}" for entry in report.seeing_not_believing]
    return [*lines, ""]


def skipped_section(
    malformed_lines: Sequence[MalformedLine], excluded: int, duplicates_replaced: int
) -> list[str]:
    """What was not scored (malformed lines, predictions without references, duplicates)."""
    if not malformed_lines and not excluded and not duplicates_replaced:
        return []
    lines = ["## Skipped input", ""]
    if malformed_lines:
        lines.append(f"- {len(malformed_lines)} malformed line(s) skipped:")
        lines += [
            f"  - line {bad.line}: {bad.reason}" for bad in malformed_lines[:MAX_LISTED_MALFORMED]
        ]
        if len(malformed_lines) > MAX_LISTED_MALFORMED:
            lines.append(f"  - ... and {len(malformed_lines) - MAX_LISTED_MALFORMED} more")
    if excluded:
        lines.append(f"- {excluded} prediction(s) without references excluded from scoring.")
    if duplicates_replaced:
        lines.append(f"- {duplicates_replaced} duplicate prediction(s) replaced by a later line.")
    return [*lines, ""]


def protocol_lines(protocol: ProtocolInfo) -> list[str]:
    """The description of one protocol: its metrics, definition, normaliser and source."""
    metrics = ", ".join(f"{label} (`{metric}`)" for metric, label in protocol.metrics.items())
    return [
        f"  - `{protocol.name}` — {metrics}: {protocol.definition}.",
        f"    Normaliser: {protocol.normalizer}. Reproduces: {protocol.reference}.",
    ]


def render_markdown(
    report: ScoreReport,
    malformed_lines: Sequence[MalformedLine] = (),
    excluded: int = 0,
    duplicates_replaced: int = 0,
) -> str:
    """The whole Markdown report: protocol lines, one table per dataset, seeing-not-believing.

    Promises: names every protocol with its normaliser, the decision metric and the error
    policy; one table line per report row, one column per metric, labelled by protocol;
    percentages with one decimal, gains in signed percentage points.
    """
    decision = metric_labels(report).get(report.decision_metric, report.decision_metric)
    header = [
        "# VEA score report",
        "",
        "- Protocols (each column is labelled by its protocol; choose with `--protocols`):",
        *(line for protocol in report.protocols for line in protocol_lines(protocol)),
        f"- Decision metric: {decision} (`{report.decision_metric}`): the Δ column, "
        "wins/losses, the chart and the seeing-not-believing split use it",
        f"- Error policy: {report.error_policy}",
        f"- Exclusion policy: {NO_REFERENCES_POLICY}",
        f"- Predictions: `{report.predictions}`",
        f"- Intervals: percentile bootstrap 95 %, {report.bootstrap_resamples} resamples, "
        f"seed {report.seed}; gains are paired over the samples both methods answered",
        f"- vea-augment {report.tool_version}",
        "",
        "Values are percentages; Δ columns are percentage points against `base`.",
        "",
    ]
    body = [line for dataset in _datasets(report) for line in dataset_section(report, dataset)]
    tail = seeing_not_believing_section(report)
    skipped = skipped_section(malformed_lines, excluded, duplicates_replaced)
    return "\n".join([*header, *body, *tail, *skipped]).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# Bar chart


def _has_gain(row: MethodScores, metric: str) -> bool:
    gain = row.gain_over_base.get(metric)
    return row.method != BASE_METHOD and gain is not None and gain.value is not None


def _ordered_methods(rows: Sequence[MethodScores]) -> list[str]:
    present = {row.method for row in rows}
    known = [method for method in METHOD_ORDER if method in present]
    return known + sorted(present - set(known))


def _bar_series(
    rows: Sequence[MethodScores], datasets: list[str], method: str, metric: str, gain: bool
) -> tuple[list[int], list[float], list[float], list[float]]:
    """x index, height and lower/upper error lengths (in points) of one method's bars."""
    xs: list[int] = []
    heights: list[float] = []
    below: list[float] = []
    above: list[float] = []
    for row in rows:
        if row.method != method:
            continue
        interval = (row.gain_over_base if gain else row.scores).get(metric)
        if interval is None or interval.value is None:
            continue
        value = 100 * interval.value
        low = value if interval.low is None else 100 * interval.low
        high = value if interval.high is None else 100 * interval.high
        xs.append(datasets.index(row.dataset))
        heights.append(value)
        below.append(max(0.0, value - low))
        above.append(max(0.0, high - value))
    return xs, heights, below, above


def _draw_grouped_bars(
    axes: Axes, rows: Sequence[MethodScores], metric: str, gain: bool
) -> list[str]:
    """Grouped bars (x = dataset, one bar per method) with CI error bars; returns the datasets."""
    datasets = list(dict.fromkeys(row.dataset for row in rows))
    methods = _ordered_methods(rows)
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        xs, heights, below, above = _bar_series(rows, datasets, method, metric, gain)
        offset = (index - (len(methods) - 1) / 2) * width
        axes.bar(
            [x + offset for x in xs],
            heights,
            width=width,
            yerr=[below, above],
            capsize=4,
            label=method,
        )
    axes.set_xticks(range(len(datasets)))
    long_labels = len(datasets) > 4 or any(len(name) > 12 for name in datasets)
    axes.set_xticklabels(
        datasets, rotation=20 if long_labels else 0, ha="right" if long_labels else "center"
    )
    return datasets


def plot_score_chart(report: ScoreReport, path: Path) -> Path:
    """Write a PNG bar chart of the report and return its path.

    Promises: when some non-base method has a gain over base on the decision metric (the
    paper's EM by default), grouped bars of that gain in points (x = dataset, one bar per
    non-base method, 95 % CI error bars, a zero line); otherwise grouped bars of the absolute
    decision metric per method. The axis and title name the metric and its protocol. 800x500
    pixels, labelled axes, title and legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
    axes = figure.add_subplot()
    metric = report.decision_metric
    label = metric_labels(report).get(metric, metric)
    name = f"{label} ({metric})"
    gain_rows = [row for row in report.rows if _has_gain(row, metric)]
    if gain_rows:
        _draw_grouped_bars(axes, gain_rows, metric, gain=True)
        axes.axhline(0.0, color="black", linewidth=0.8)
        axes.set_ylabel(f"{label} gain over base (points)")
        axes.set_title(f"{name} gain over base, 95 % paired bootstrap CI")
    else:
        _draw_grouped_bars(axes, report.rows, metric, gain=False)
        axes.axhline(0.0, color="black", linewidth=0.8)
        axes.set_ylim(0.0, 105.0)
        axes.set_ylabel(f"{label} (%)")
        axes.set_title(f"{name} per method, 95 % bootstrap CI (no method to compare)")
    axes.set_xlabel("dataset")
    axes.legend(title="method")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
