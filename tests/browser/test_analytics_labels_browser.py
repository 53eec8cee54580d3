"""Chart labels fit: every Korean label of the analytics charts is measured in the page's web
font (so the space ECharts reserves for it is the space it takes) and none is drawn outside its
canvas.

Pretendard comes in unicode-range subsets that the browser loads only for characters on the
page; text drawn on a canvas is not, so product names were measured in a fallback font and the
next-best-offer chart's labels were clipped on the left. The charts now load the subsets for
their own characters first (with the font family on one line: the CSS variable keeps the
stylesheet's line break, and FontFaceSet.load rejected it).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from dangol.analytics.tests.test_dashboards import build_shop

pytestmark = pytest.mark.browser

# For each drawn chart: its name, the Korean labels drawn wider (in the now loaded font) than the
# box ECharts measured and laid out for them, and the labels whose box leaves the chart.
CHECK = """() => [...document.querySelectorAll('[data-chart][data-rendered]')].map((el) => {
  const chart = echarts.getInstanceByDom(el);
  const ctx = document.createElement("canvas").getContext("2d");
  const mismeasured = [], outside = [];
  chart.getZr().storage.getDisplayList(true).forEach((d) => {
    if (d.type !== "tspan" || !d.style.text || !d.style.font || d.invisible || d.ignore) return;
    const local = d.getBoundingRect();
    ctx.font = d.style.font;
    const width = ctx.measureText(d.style.text).width;
    if (/[\uac00-\ud7a3]/.test(d.style.text) && width > local.width + 1) {
      mismeasured.push([d.style.text, Math.round(local.width), Math.round(width)]);
    }
    const box = local.clone();
    if (d.transform) box.applyTransform(d.transform);
    if (box.x < -1 || box.x + box.width > el.clientWidth + 1) outside.push(d.style.text);
  });
  return [el.dataset.chart, mismeasured, outside];
})"""


def test_korean_labels_are_measured_in_the_web_font_and_stay_inside(
    page: Any, admin: Any, make_user: Any, make_customer: Any, sign_in: Any
) -> None:
    build_shop(admin, make_customer, make_user(role="rep"), runs=2)
    sign_in(make_user(role="marketer").email)

    drawn = []
    for path in ("rfm/", "grades/", "clv/", "churn/", "next-best-offer/", "cohorts/"):
        page.goto(f"/analytics/{path}")
        expect(page.locator("body[data-charts-ready]")).to_have_count(1)
        for name, mismeasured, outside in page.evaluate(CHECK):
            drawn.append(name)
            assert mismeasured == [], (path, name, mismeasured)
            assert outside == [], (path, name, outside)
    assert {"segments", "distribution", "products", "retention"} <= set(drawn)
