// Analytics dashboards: draws every [data-chart] element of the page with ECharts from the
// page's JSON (#analytics-data: {page, charts: {name: rows}, text: {key: translated words}}).
// Each chart gets the saveAsImage toolbox; the CSV of its data is a link rendered by the server.
(function () {
  "use strict";

  // The CSS variable's value keeps the stylesheet's line breaks and indentation; a canvas font
  // with a newline is invalid, so ECharts measured every label in the canvas's default font
  // (narrower than Pretendard) and clipped Korean labels. One line, single spaces.
  const FONT = getComputedStyle(document.documentElement).getPropertyValue("--dg-font").replace(/\s+/g, " ").trim() || "sans-serif";
  const PALETTE = ["#206bc4", "#2fb344", "#f59f00", "#d63939", "#ae3ec9", "#17a2b8", "#f76707", "#74b816", "#667382"];
  const lang = document.documentElement.lang || "ko";
  const number = new Intl.NumberFormat(lang);
  const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  const krwShort = new Intl.NumberFormat(lang, { notation: "compact", maximumFractionDigits: 1 });

  function pct(v) { return v === null || v === undefined ? "—" : percent.format(v); }
  function krw(v) { return v === null || v === undefined ? "—" : krwShort.format(v); }

  // The widest of `labels` in the charts' font (after the font has loaded), in pixels.
  const measure = document.createElement("canvas").getContext("2d");
  function widest(labels, size) {
    measure.font = `${size || 12}px ${FONT}`;
    return Math.ceil(Math.max(0, ...labels.map((l) => measure.measureText(String(l)).width)));
  }

  // The first round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k) at or above v.
  function niceAbove(v) {
    if (!(v > 0)) return 1;
    const step = Math.pow(10, Math.floor(Math.log10(v)));
    return [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * step).find((x) => x >= v);
  }

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
        // Head room, so the tallest bar's label does not run into the axis name.
        yAxis: { type: "value", name: text.customers, max: (e) => niceAbove(e.max * 1.15) },
        series: [{ name: text.customers, type: "bar", data: sorted.map((r) => r.customers),
          label: { show: true, position: "top", formatter: (p) => `${number.format(p.value)} (${pct(sorted[p.dataIndex].share)})` } }],
      });
    },
    migrations(el, text, rows) {
      // Tiers top to bottom by rank on both sides (the server sends the ranks; "no grade" lowest),
      // so upgrades rise and downgrades fall; a node's id says its side (a sankey may not loop)
      // and its label is the tier's name only. Upgrades are green, downgrades red.
      const moves = rows.filter((r) => !r.initial && r.from_tier !== r.to_tier);
      if (!moves.length) return null;
      const tiers = new Map();
      moves.forEach((r) => { tiers.set(r.from_tier, r.from_rank); tiers.set(r.to_tier, r.to_rank); });
      const order = [...tiers.keys()].sort((a, b) => tiers.get(b) - tiers.get(a));
      const colour = new Map(order.map((t, i) => [t, PALETTE[i % PALETTE.length]]));
      const totals = new Map();
      moves.forEach((r) => {
        totals.set("from:" + r.from_tier, (totals.get("from:" + r.from_tier) || 0) + r.customers);
        totals.set("to:" + r.to_tier, (totals.get("to:" + r.to_tier) || 0) + r.customers);
      });
      const data = [];
      ["from", "to"].forEach((side) => order.forEach((t) => {
        const id = side + ":" + t;
        if (totals.has(id)) data.push({ name: id, tier: t, depth: side === "from" ? 0 : 1, itemStyle: { color: colour.get(t) } });
      }));
      const up = "#2fb344", down = "#d63939";
      const links = moves.map((r) => ({
        source: "from:" + r.from_tier, target: "to:" + r.to_tier, value: r.customers, reason: r.reason,
        lineStyle: { color: r.to_rank > r.from_rank ? up : down },
      }));
      const label = (name) => name.slice(name.indexOf(":") + 1);
      return base(el, text, {
        tooltip: {
          trigger: "item", confine: true,
          formatter: (p) => p.dataType === "edge"
            ? `${label(p.data.source)} → ${label(p.data.target)}<br>${p.data.reason}: <b>${number.format(p.data.value)}</b>`
            : `${label(p.name)}: <b>${number.format(p.value)}</b>`,
        },
        // What the two colours mean (a sankey has no legend of its own).
        graphic: [{ type: "text", left: 8, top: 8, style: {
          text: `{up|■} ${text.upgrades}    {down|■} ${text.downgrades}`, fontFamily: FONT, fontSize: 12, fill: "#49566c",
          rich: { up: { fill: up, fontSize: 14 }, down: { fill: down, fontSize: 14 } } } }],
        series: [
          { type: "sankey", data, links, left: 24, right: 120, top: 40, bottom: 8, layoutIterations: 0, nodeGap: 14,
            emphasis: { focus: "adjacency" }, lineStyle: { curveness: 0.5, opacity: 0.4 },
            label: { formatter: (p) => `${label(p.name)}  ${number.format(p.value)}` } },
        ],
      });
    },
    // --- CLV
    clv_distribution(el, text, rows) {
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true },
        xAxis: { type: "category", data: rows.map((r) => r.high ? `${krw(r.low)}–${krw(r.high)}` : `${krw(r.low)}+`), name: text.clv, nameLocation: "middle", nameGap: rows.length > 6 ? 60 : 32,
          axisLabel: { interval: 0, rotate: rows.length > 6 ? 30 : 0 } },
        grid: { left: 56, right: 24, top: 64, bottom: rows.length > 6 ? 40 : 24, containLabel: true },
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
        grid: { left: 40, right: 16, top: 64, bottom: 16, containLabel: true },
        xAxis: { type: "category", data: rows.map((r) => r.metric.replace(/\s*[(（]/, "\n(")), axisLabel: { interval: 0, lineHeight: 16 } },
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
        // The product names' own width on the left: containLabel reserved too little for a
        // category axis on the left and cut the names' beginnings off.
        grid: { left: Math.min(widest(sorted.map((r) => r.name)), 240) + 16, right: 24, top: 40, bottom: 48, containLabel: false },
        xAxis: { type: "value", name: text.offered, nameLocation: "middle", nameGap: 28 },
        yAxis: { type: "category", data: sorted.map((r) => r.name), axisLabel: { width: 240, overflow: "truncate" } },
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
          { name: text.churn_rate, type: "line", data: rows.map((r) => r.churn_rate), smooth: true, color: "#d63939" },
        ],
      });
    },
    share_grade(el, text, rows) { return BUILDERS._share(el, text, rows); },
    share_segment(el, text, rows) { return BUILDERS._share(el, text, rows); },
    _share(el, text, rows) {
      const months = [...new Set(rows.map((r) => String(r.month).slice(0, 7)))];
      // Best grade / segment first in the legend and at the bottom of each stack.
      const place = new Map(rows.map((r) => [r.group, r.order ?? 0]));
      const groups = [...place.keys()].sort((a, b) => place.get(a) - place.get(b));
      // Every group in the legend (it wraps), the plot below it.
      const legendRows = Math.ceil(groups.length / 4);
      return base(el, text, {
        tooltip: { trigger: "axis", confine: true, valueFormatter: pct },
        legend: { top: 4, left: 8, right: 40 },
        grid: { left: 56, right: 24, top: 32 + 24 * legendRows, bottom: 32, containLabel: true },
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

  // Every character the charts may draw: the rows' strings and the translated words.
  function characters() {
    const blob = document.getElementById("analytics-data");
    if (!blob) return "";
    const seen = new Set();
    const walk = (v) => {
      if (typeof v === "string") { for (const c of v) seen.add(c); }
      else if (v && typeof v === "object") Object.values(v).forEach(walk);
    };
    walk(JSON.parse(blob.textContent));
    "0123456789.,%₩–+-—()만억천".split("").forEach((c) => seen.add(c));
    return [...seen].join("");
  }

  // Labels are measured when a chart is laid out: wait for the web font (Pretendard), or the
  // Korean labels are measured in a fallback font and come out clipped. Pretendard comes in
  // unicode-range subsets that the browser fetches only for characters on the page, and text
  // drawn on a canvas is not on the page: product names in a chart would be measured in the
  // fallback font. So the subsets for the charts' own characters are loaded first.
  function start() {
    const fonts = document.fonts;
    if (!fonts) return draw();
    const family = FONT;
    const chars = characters();
    const loads = chars ? [fonts.load(`400 12px ${family}`, chars), fonts.load(`600 12px ${family}`, chars)] : [];
    Promise.all([fonts.ready, ...loads]).catch(() => undefined).then(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
