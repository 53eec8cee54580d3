// Analytics dashboards: draws every [data-chart] element of the page with ECharts from the
// page's JSON (#analytics-data: {page, charts: {name: rows}, text: {key: translated words}}).
// Each chart gets the saveAsImage toolbox; the CSV of its data is a link rendered by the server.
(function () {
  "use strict";

  const FONT = getComputedStyle(document.documentElement).getPropertyValue("--dg-font") || "sans-serif";
  const PALETTE = ["#206bc4", "#2fb344", "#f59f00", "#d63939", "#ae3ec9", "#17a2b8", "#f76707", "#74b816", "#667382"];
  const lang = document.documentElement.lang || "ko";
  const number = new Intl.NumberFormat(lang);
  const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  const krwShort = new Intl.NumberFormat(lang, { notation: "compact", maximumFractionDigits: 1 });

  function pct(v) { return v === null || v === undefined ? "—" : percent.format(v); }
  function krw(v) { return v === null || v === undefined ? "—" : krwShort.format(v); }

  function base(el, text, extra) {
    return Object.assign({
      color: PALETTE,
      textStyle: { fontFamily: FONT },
      animation: false,
      grid: { left: 56, right: 24, top: 64, bottom: 48, containLabel: true },
      toolbox: {
        right: 8,
        feature: { saveAsImage: { title: text.save_image, name: "dangol-" + el.dataset.chart, pixelRatio: 2 } },
      },
      tooltip: { trigger: "item", confine: true },
    }, extra);
  }

  function heatmap(el, text, rows, x, y, value, opts) {
    const xs = opts.xs || [...new Set(rows.map((r) => r[x]))];
    const ys = opts.ys || [...new Set(rows.map((r) => r[y]))];
    const values = rows.map((r) => [xs.indexOf(r[x]), ys.indexOf(r[y]), r[value]]);
    const max = Math.max(0, ...rows.map((r) => r[value] || 0));
    return base(el, text, {
      grid: { left: opts.yName ? 40 : 56, right: 96, top: opts.xTop ? 64 : 40, bottom: opts.xName ? 40 : 8, containLabel: true },
      tooltip: {
        confine: true,
        formatter: (p) => `${opts.yLabel || opts.yName}: ${ys[p.value[1]]}<br>${opts.xLabel || opts.xName}: ${xs[p.value[0]]}<br><b>${opts.fmt(p.value[2])}</b>`,
      },
      xAxis: { type: "category", data: xs, name: opts.xName, nameLocation: "middle", nameGap: 28, splitArea: { show: true }, position: opts.xTop ? "top" : "bottom",
        axisLabel: { interval: 0, rotate: xs.length > 6 ? 30 : 0 } },
      yAxis: { type: "category", data: ys, name: opts.yName, nameLocation: "middle", nameGap: 28, inverse: !!opts.inverse, splitArea: { show: true },
        axisLabel: { interval: 0 } },
      visualMap: {
        min: 0, max: opts.max || max || 1, calculable: true, orient: "vertical", right: 0, top: "middle",
        itemHeight: 140, inRange: { color: ["#f1f5fb", "#7aa7e0", "#1d4f91"] }, formatter: (v) => opts.fmt(v),
        show: opts.legend !== false,
      },
      series: [{
        type: "heatmap", data: values,
        label: { show: opts.labels !== false, formatter: (p) => opts.fmt(p.value[2]), fontSize: 11 },
        emphasis: { itemStyle: { borderColor: "#333", borderWidth: 1 } },
      }],
    });
  }

  const BUILDERS = {
    // --- RFM
    segments(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        legend: { top: 4, left: 8 },
        xAxis: { type: "category", data: rows.map((r) => r.label), axisLabel: { interval: 0, rotate: 30 } },
        yAxis: [{ type: "value", name: text.customers }, { type: "value", name: text.share, axisLabel: { formatter: pct }, max: 1 }],
        series: [
          { name: text.customers, type: "bar", data: rows.map((r) => r.customers) },
          { name: text.share, type: "line", yAxisIndex: 1, data: rows.map((r) => r.spend_share), tooltip: { valueFormatter: pct } },
        ],
      });
    },
    grid(el, text, rows) {
      return heatmap(el, text, rows, "f_score", "r_score", "customers",
        { xs: [1, 2, 3, 4, 5], ys: [1, 2, 3, 4, 5], xName: text.frequency, yName: text.recency, fmt: (v) => number.format(v) });
    },
    movement(el, text, rows) {
      const order = [];
      rows.forEach((r) => { if (!order.includes(r.from_label)) order.push(r.from_label); });
      rows.forEach((r) => { if (!order.includes(r.to_label)) order.push(r.to_label); });
      return heatmap(el, text, rows, "to_label", "from_label", "customers",
        { xs: order, ys: order, inverse: true, xLabel: text.to, yLabel: text.from, xTop: true, fmt: (v) => number.format(v),
          max: Math.max(1, ...rows.filter((r) => r.from_label !== r.to_label).map((r) => r.customers)) });
    },
    // --- grades
    distribution(el, text, rows) {
      if (rows.length && "bucket" in rows[0]) return BUILDERS.clv_distribution(el, text, rows);
      const sorted = [...rows].reverse();
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        xAxis: { type: "category", data: sorted.map((r) => r.name) },
        yAxis: { type: "value", name: text.customers },
        series: [{ name: text.customers, type: "bar", data: sorted.map((r) => r.customers),
          label: { show: true, position: "top", formatter: (p) => `${number.format(p.value)} (${pct(sorted[p.dataIndex].share)})` } }],
      });
    },
    migrations(el, text, rows) {
      // Sources on the left ("◀ Gold"), targets on the right ("Silver ▶"): a sankey may not loop.
      const data = [];
      const seen = new Set();
      const links = rows.filter((r) => !r.initial && r.from_tier !== r.to_tier).map((r) => {
        const s = r.from_tier + " ◀", t = "▶ " + r.to_tier;
        [s, t].forEach((n) => { if (!seen.has(n)) { seen.add(n); data.push({ name: n }); } });
        return { source: s, target: t, value: r.customers, reason: r.reason };
      });
      if (!links.length) return null;
      return base(el, text, {
        tooltip: { trigger: "item", confine: true, valueFormatter: (v) => number.format(v) },
        series: [{ type: "sankey", data, links, nodeAlign: "justify", left: 24, right: 96,
          emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", curveness: 0.5, opacity: 0.45 } }],
      });
    },
    // --- CLV
    clv_distribution(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        xAxis: { type: "category", data: rows.map((r) => r.high ? `${krw(r.low)}–${krw(r.high)}` : `${krw(r.low)}+`), name: text.clv, nameLocation: "middle", nameGap: 32 },
        yAxis: { type: "value", name: text.customers },
        series: [{ name: text.customers, type: "bar", data: rows.map((r) => r.customers) }],
      });
    },
    by_cohort(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        legend: { top: 4, left: 8 },
        xAxis: { type: "category", data: rows.map((r) => String(r.cohort).slice(0, 7)), name: text.cohort, nameLocation: "middle", nameGap: 32 },
        yAxis: [{ type: "value", name: text.avg_clv, axisLabel: { formatter: krw } }, { type: "value", name: text.customers }],
        series: [
          { name: text.avg_clv, type: "bar", data: rows.map((r) => Math.round(r.avg_clv)), tooltip: { valueFormatter: (v) => number.format(v) + " ₩" } },
          { name: text.customers, type: "line", yAxisIndex: 1, data: rows.map((r) => r.customers) },
        ],
      });
    },
    // --- churn
    bands(el, text, rows) {
      const colors = { low: "#2fb344", medium: "#f59f00", high: "#d63939" };
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        legend: { top: 4, left: 8 },
        xAxis: { type: "category", data: rows.map((r) => r.label) },
        yAxis: [{ type: "value", name: text.customers }, { type: "value", name: text.value_at_risk, axisLabel: { formatter: krw } }],
        series: [
          { name: text.customers, type: "bar", data: rows.map((r) => ({ value: r.customers, itemStyle: { color: colors[r.band] } })) },
          { name: text.value_at_risk, type: "line", yAxisIndex: 1, data: rows.map((r) => Math.round(r.value_at_risk)), tooltip: { valueFormatter: (v) => number.format(v) + " ₩" } },
        ],
      });
    },
    backtest(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => v === null ? "—" : v.toFixed(3) },
        legend: { top: 4, left: 8 },
        xAxis: { type: "category", data: rows.map((r) => r.metric), axisLabel: { interval: 0, width: 130, overflow: "break" } },
        yAxis: { type: "value", min: 0, max: 1 },
        series: [
          { name: text.model, type: "bar", data: rows.map((r) => r.model), label: { show: true, position: "top", formatter: (p) => p.value.toFixed(2) } },
          { name: text.baseline, type: "bar", data: rows.map((r) => r.baseline), label: { show: true, position: "top", formatter: (p) => p.value.toFixed(2) } },
        ],
      });
    },
    // --- next best offer
    products(el, text, rows) {
      const sorted = [...rows].reverse();
      return base(el, text, {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
        legend: { top: 4, left: 8 },
        grid: { left: 8, right: 24, top: 40, bottom: 24, containLabel: true },
        xAxis: { type: "value", name: text.offered },
        yAxis: { type: "category", data: sorted.map((r) => r.name), axisLabel: { width: 180, overflow: "truncate" } },
        series: ["cross_sell", "up_sell", "popular"].map((kind) => ({
          name: text[kind], type: "bar", stack: "kind", data: sorted.map((r) => r[kind]),
        })),
      });
    },
    // --- cohorts
    retention(el, text, rows) {
      const later = rows.filter((r) => r.month_index > 0);
      return heatmap(el, text, later.map((r) => Object.assign({}, r, { cohort_label: `${String(r.cohort).slice(0, 7)} (${number.format(r.cohort_size)})` })),
        "month_index", "cohort_label", "retention",
        { xName: text.month_index, yLabel: text.cohort, fmt: pct, inverse: true, max: Math.max(0.01, ...later.map((r) => r.retention)) });
    },
    revenue(el, text, rows) {
      return heatmap(el, text, rows.map((r) => Object.assign({}, r, { cohort_label: String(r.cohort).slice(0, 7) })),
        "month_index", "cohort_label", "revenue_per_customer",
        { xName: text.month_index, yLabel: text.cohort, fmt: krw, inverse: true });
    },
    rates(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true, valueFormatter: pct },
        legend: { top: 4, left: 8 },
        xAxis: { type: "category", data: rows.map((r) => String(r.month).slice(0, 7)) },
        yAxis: { type: "value", axisLabel: { formatter: pct } },
        series: [
          { name: text.repeat_rate, type: "line", data: rows.map((r) => r.repeat_purchase_rate), smooth: true },
          { name: text.churn_rate, type: "line", data: rows.map((r) => r.churn_rate), smooth: true },
        ],
      });
    },
    share_grade(el, text, rows) { return BUILDERS._share(el, text, rows); },
    share_segment(el, text, rows) { return BUILDERS._share(el, text, rows); },
    _share(el, text, rows) {
      const months = [...new Set(rows.map((r) => String(r.month).slice(0, 7)))];
      const groups = [...new Set(rows.map((r) => r.group))];
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true, valueFormatter: pct },
        legend: { top: 4, left: 8, type: "scroll" },
        grid: { left: 56, right: 24, top: 48, bottom: 32, containLabel: true },
        xAxis: { type: "category", data: months },
        yAxis: { type: "value", max: 1, axisLabel: { formatter: pct } },
        series: groups.map((g) => ({
          name: g, type: "bar", stack: "share",
          data: months.map((m) => { const r = rows.find((x) => x.group === g && String(x.month).slice(0, 7) === m); return r ? r.share : 0; }),
        })),
      });
    },
  };

  function empty(el, text) {
    el.classList.add("d-flex", "align-items-center", "justify-content-center", "text-secondary");
    el.style.height = "120px";
    el.textContent = text.no_data;
  }

  function draw() {
    const blob = document.getElementById("analytics-data");
    if (!blob || !window.echarts) return;
    const payload = JSON.parse(blob.textContent);
    const charts = [];
    document.querySelectorAll("[data-chart]").forEach((el) => {
      const name = el.dataset.chart;
      const rows = payload.charts[name] || [];
      const build = BUILDERS[name];
      if (!build) return;
      if (!rows.length) return empty(el, payload.text);
      const option = build(el, payload.text, rows);
      if (!option) return empty(el, payload.text);
      const chart = window.echarts.init(el, null, { renderer: "canvas", locale: "EN" });
      chart.setOption(option);
      el.dataset.rendered = "true";
      charts.push(chart);
    });
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
    document.body.dataset.chartsReady = String(charts.length);
  }

  // Labels are measured when a chart is laid out: wait for the web font (Pretendard), or the
  // Korean labels are measured in a fallback font and come out clipped.
  function start() { (document.fonts ? document.fonts.ready : Promise.resolve()).then(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
