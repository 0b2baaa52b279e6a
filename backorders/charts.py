"""The dashboard's charts: SVG drawn on the server by pygal, embedded in the page with
no script and nothing fetched, each shown beside a table of the same numbers."""

import pygal
from django.utils.safestring import SafeString, mark_safe
from pygal.etree import etree
from pygal.style import Style

from backorders.selectors import Dashboard

# The admin's own palette and type, so the charts read as part of the page.
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#333",
    foreground_strong="#333",
    foreground_subtle="#666",
    colors=("#417690",),
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=15,
    major_label_font_size=15,
    value_font_size=15,
    title_font_size=17,
)


def _bars(*, title: str, labels: list[str], values: list[int]) -> SafeString:
    chart = pygal.HorizontalBar(
        style=_STYLE,
        js=[],  # no tooltips script to fetch: the table beside has the numbers
        disable_xml_declaration=True,
        show_legend=False,
        print_values=True,
        width=480,
        height=max(160, 44 * len(labels) + 70),
        title=title,
        truncate_label=-1,
        margin=8,
    )
    # pygal draws the first value at the bottom: reversed, the chart reads like the table.
    chart.x_labels = list(reversed(labels))
    chart.add(title, list(reversed(values)))
    svg = chart.render_tree()
    # pygal always writes its config for the tooltips script as an inline script, which
    # the page's Content-Security-Policy would refuse: the chart needs none.
    for parent in svg.iter():
        for child in list(parent):
            if child.tag == "script":
                parent.remove(child)
    return mark_safe(etree.tostring(svg, encoding="unicode"))  # pygal escapes the labels


def dashboard_charts(figures: Dashboard) -> dict[str, SafeString]:
    return {
        "by_product": _bars(
            title="Units waiting, by product",
            labels=[row.name for row in figures.by_product],
            values=[row.units for row in figures.by_product],
        ),
        "ages": _bars(
            title="Units waiting, by days waited",
            labels=[bucket.label for bucket in figures.ages],
            values=[bucket.units for bucket in figures.ages],
        ),
    }
