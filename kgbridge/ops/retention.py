"""``kgbridge report retention --month 2026-11``: 延長率 and 終了率 of a month (flows/retention.py).

Measures the month from the Contracts app, writes the figures to the KPI app (upsert by 集計キー:
a re-run writes nothing new; ``--dry-run`` writes nothing at all), prints them as a table (or
``--json``) and draws a PNG chart (``--chart PATH``, default ``retention-YYYY-MM.png``; matplotlib
with the Agg backend, Japanese labels in the IPAex Gothic font that japanize-matplotlib ships).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from flows import retention
from kgbridge.ops.output import table, to_json

COLORS = {"renewed": "#2e7d32", "ended": "#c62828", "undecided": "#9e9e9e"}


def _env(ctx: click.Context):
    from kgbridge.ops.env import OpsEnv

    root = ctx.find_root()
    if root.obj is None:
        root.obj = OpsEnv()
    return root.obj


@click.group()
def report() -> None:
    """Business figures from kintone (written back to kintone's KPI app)."""


@report.command("retention")
@click.option("--month", required=True, help="The month, YYYY-MM (e.g. 2026-11).")
@click.option("--chart", "chart_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PNG chart (default: retention-YYYY-MM.png).")
@click.option("--no-chart", is_flag=True, help="Draw no chart.")
@click.option("--dry-run", is_flag=True, help="Measure and print only; write nothing to the KPI app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")
@click.pass_context
def retention_command(ctx, month, chart_path, no_chart, dry_run, as_json) -> None:
    """延長率 and 終了率 of MONTH, for the company and per rep, team and client.

    Renewals due: concluded 個別契約 whose 派遣終了日 (or 中途終了日) falls in the month; renewed:
    更新結果 延長; ended: 更新結果 終了 or ended early, by 終了理由.
    """
    env = _env(ctx)
    figures = retention.measure(env.kintone, env.mappings, month)
    written = None if dry_run else retention.write_kpi(env.kintone, env.mappings, month, figures)
    chart = None
    if not no_chart:
        chart = chart_path or Path(f"retention-{month}.png")
        draw(figures, month, chart)
    data = {"month": month, "figures": [f.as_json() for f in figures], "kpi_app": written,
            "chart": str(chart) if chart else None}
    click.echo(to_json(data) if as_json else render(figures, written, chart))


def render(figures: list[retention.Figures], written: dict | None, chart: Path | None) -> str:
    rows = [(f.scope, f.name, f.due, f.renewed, f.ended, f.undecided, _pct(f.renewal_rate), _pct(f.end_rate),
             "、".join(f"{r} {n}" for r, n in sorted(f.reasons.items(), key=lambda x: (-x[1], x[0]))))
            for f in figures]
    out = [table(["集計単位", "集計対象", "更新対象", "延長", "終了", "未決定", "延長率", "終了率", "終了理由"], rows)]
    if written is not None:
        out.append(f"KPI app: {written['added']} added, {written['updated']} updated, "
                   f"{written['unchanged']} unchanged")
    if chart is not None:
        out.append(f"chart: {chart}")
    return "\n".join(out)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def draw(figures: list[retention.Figures], month: str, path: Path) -> Path:
    """A PNG with one panel per scope (rep, team, client): renewed / ended / undecided bars and 延長率."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = _japanese_font()
    if font is not None:
        font_manager.fontManager.addfont(str(font))
        family = font_manager.FontProperties(fname=str(font)).get_name()
    else:
        family = "sans-serif"
    panels = [s for s in retention.SCOPES if s != retention.COMPANY]
    by_scope = {s: [f for f in figures if f.scope == s] for s in panels}
    heights = [max(1, len(by_scope[s])) for s in panels]
    with plt.rc_context({"font.family": family}):
        fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2 + 0.45 * sum(heights)),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        company = next((f for f in figures if f.scope == retention.COMPANY), None)
        title = f"{month} 延長率・終了率"
        if company is not None:
            title += f"（全社 更新対象{company.due}件：延長率 {_pct(company.renewal_rate)}、終了率 {_pct(company.end_rate)}）"
        fig.suptitle(title)
        for ax, scope in zip(axes[:, 0], panels, strict=True):
            rows = by_scope[scope]
            names = [f.name for f in rows]
            left = [0] * len(rows)
            for part, label in (("renewed", "延長"), ("ended", "終了"), ("undecided", "未決定")):
                values = [getattr(f, part) for f in rows]
                ax.barh(names, values, left=left, color=COLORS[part], label=label)
                left = [a + b for a, b in zip(left, values, strict=True)]
            for y, f in enumerate(rows):
                ax.text(f.due + 0.1, y, f"延長率 {_pct(f.renewal_rate)} / 終了率 {_pct(f.end_rate)}", va="center", fontsize=8)
            ax.set_title(scope, loc="left", fontsize=10)
            ax.invert_yaxis()
            ax.set_xlim(0, max([f.due for f in rows] + [1]) * 1.6)
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0, 0].legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=110)
        plt.close(fig)
    return path


def _japanese_font() -> Path | None:
    """IPAex Gothic from the japanize-matplotlib package, found without importing it (its import
    changes global settings and uses a deprecated module)."""
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    font = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"
    return font if font.is_file() else None
