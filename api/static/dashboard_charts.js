/* Charts for the managers' dashboard: inline SVG and plain tables, no library, no network.
   Every text comes in through textContent, so names from the catalog can never become markup. */
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const STEPS = ["query", "impression", "click", "claim", "redemption", "visit"];
  const NAMES = { query: "查询", impression: "曝光", click: "点击", claim: "领券",
                  redemption: "核销", visit: "到店" };
  const COLORS = { query: "#3b6fb6", impression: "#6a9bd8", click: "#e0912f",
                   claim: "#c75b9b", redemption: "#2f9e6e", visit: "#1c7c54" };

  function el(tag, attrs, text) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4))
                                        : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const fmt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));
  const pct = (r) => (r === null || r === undefined ? "—" : (r * 100).toFixed(r < 0.1 ? 1 : 0) + "%");

  /* Draw in CSS pixels of the card, so text stays legible on a 360 px phone. */
  const widthOf = (host) => Math.round(Math.min(900, Math.max(280, host.clientWidth || 600)));

  function svg(width, height, label) {
    return el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label,
                           preserveAspectRatio: "xMidYMid meet", class: "svg" });
  }

  /* Funnel: one bar per step, length by count, with people and the rate from the step above. */
  function funnel(host, report) {
    const total = report.total, steps = STEPS.filter((s) => total.counts[s] !== null);
    const max = Math.max(1, ...steps.map((s) => total.counts[s]));
    const rowH = 46, width = widthOf(host), chart = svg(width, steps.length * rowH + 8, "转化漏斗");
    steps.forEach((step, i) => {
      const y = i * rowH + 4, w = Math.max(2, (total.counts[step] / max) * (width - 180));
      chart.append(el("svg:text", { x: 0, y: y + 24, class: "lbl" }, NAMES[step]));
      chart.append(el("svg:rect", { x: 56, y: y + 6, width: w, height: 26, rx: 3,
                                    fill: COLORS[step], class: "bar", "data-step": step }));
      chart.append(el("svg:text", { x: 62 + w, y: y + 24, class: "val" },
                      `${fmt(total.counts[step])} 次 / ${fmt(total.uniques[step])} 人`));
      if (i > 0) {
        const rate = total.rates[`${step}_per_${steps[i - 1]}`];
        if (rate !== undefined) {
          chart.append(el("svg:text", { x: 56, y: y + 4, class: "rate" }, `↓ ${pct(rate)}`));
        }
      }
    });
    host.replaceChildren(chart);
  }

  /* Daily series: queries, clicks and visits as lines over the days of the range. */
  function line(host, rows, series) {
    const width = widthOf(host), height = 240, left = 44, bottom = 28, top = 28;
    const chart = svg(width, height, "每日趋势");
    const peak = Math.max(0, ...rows.flatMap((r) => series.map((s) => r.counts[s] || 0)));
    const max = Math.max(2, peak % 2 ? peak + 1 : peak);  // whole numbers on the middle tick
    const x = (i) => left + (rows.length < 2 ? 0 : (i * (width - left - 8)) / (rows.length - 1));
    const y = (v) => top + (height - top - bottom) * (1 - v / max);
    for (const v of [0, max / 2, max]) {
      chart.append(el("svg:line", { x1: left, x2: width - 8, y1: y(v), y2: y(v), class: "grid" }));
      chart.append(el("svg:text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" },
                      fmt(Math.round(v))));
    }
    const ticks = [...new Set([0, Math.floor((rows.length - 1) / 2), rows.length - 1])];
    for (const i of ticks) {
      const anchor = i === 0 ? "start" : i === rows.length - 1 ? "end" : "middle";
      if (rows[i]) chart.append(el("svg:text", { x: x(i), y: height - 8, class: "axis",
                                                 "text-anchor": anchor }, rows[i].key.slice(5)));
    }
    series.forEach((s, k) => {
      const pts = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.counts[s] || 0).toFixed(1)}`);
      chart.append(el("svg:polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[s],
                                        "stroke-width": 2, class: "series", "data-step": s }));
      if (rows.length <= 45) {
        rows.forEach((r, i) => {
          const dot = el("svg:circle", { cx: x(i), cy: y(r.counts[s] || 0), r: 3, fill: COLORS[s] });
          dot.append(el("svg:title", {}, `${r.key} ${NAMES[s]} ${fmt(r.counts[s])}`));
          chart.append(dot);
        });
      }
      chart.append(el("svg:text", { x: left + k * 64, y: 12, fill: COLORS[s], class: "legend" },
                      `■ ${NAMES[s]}`));
    });
    host.replaceChildren(chart);
  }

  /* Weekday × hour: a table whose cells darken with the count of one step. */
  function heat(host, rows, step) {
    const max = Math.max(1, ...rows.map((r) => r.counts[step] || 0));
    const table = el("table", { class: "heat" });
    const head = el("tr", {}, null);
    head.append(el("th", {}, ""));
    for (let h = 0; h < 24; h++) head.append(el("th", {}, h));
    table.append(head);
    const days = ["一", "二", "三", "四", "五", "六", "日"];
    for (let w = 1; w <= 7; w++) {
      const tr = el("tr");
      tr.append(el("th", {}, `周${days[w - 1]}`));
      for (let h = 0; h < 24; h++) {
        const row = rows.find((r) => r.key[0] === w && r.key[1] === h);
        const v = row ? row.counts[step] || 0 : 0;
        const td = el("td", { title: `周${days[w - 1]} ${h}:00 ${NAMES[step]} ${v}`,
                              "data-value": v }, v || "");
        td.style.setProperty("background-color", `rgba(59, 111, 182, ${(v / max).toFixed(3)})`);
        if (v / max > 0.55) td.classList.add("dark");
        tr.append(td);
      }
      table.append(tr);
    }
    host.replaceChildren(table);
  }

  function table(headers, rows) {
    const t = el("table", { class: "list" });
    const tr = el("tr");
    headers.forEach((h) => tr.append(el("th", {}, h)));
    t.append(tr);
    rows.forEach((cells) => {
      const r = el("tr");
      cells.forEach((c, i) => r.append(el("td", i ? { class: "num" } : {}, c)));
      t.append(r);
    });
    return t;
  }

  /* Top and bottom outlets by store-proven visits. */
  function outlets(host, rows) {
    const sorted = [...rows].sort((a, b) => (b.counts.visit - a.counts.visit)
                                            || (b.counts.impression - a.counts.impression));
    const line = (r) => [r.label, fmt(r.counts.impression), fmt(r.counts.click),
                         fmt(r.counts.visit), pct(r.rates.visit_per_impression)];
    const head = ["门店", "曝光", "点击", "到店", "到店/曝光"];
    const n = Math.min(5, Math.ceil(sorted.length / 2));
    host.replaceChildren(el("h3", {}, "最好"), table(head, sorted.slice(0, n).map(line)),
                         el("h3", {}, "待改进"),
                         table(head, sorted.slice(n).slice(-5).reverse().map(line)));
  }

  function promotions(host, report) {
    const rows = report.rows.map((r) => [r.outlet_id === null ? r.promotion : `　${r.outlet}`,
      fmt(r.counts.claim), fmt(r.counts.redemption), pct(r.rates.redemption_per_claim)]);
    host.replaceChildren(rows.length ? table(["优惠 / 门店", "领券", "核销", "核销率"], rows)
                                     : el("p", { class: "empty" }, "这段时间没有领券。"));
  }

  /* Demand: H3 cells as polygons on an equirectangular sketch, darker with more queries. */
  function demand(host, cells, next, outlets) {
    if (!cells.length) {
      host.replaceChildren(el("p", { class: "empty" }, "这段时间没有带位置的查询。"));
      return;
    }
    const pts = cells.flatMap((c) => c.boundary).concat(outlets.map((o) => [o.lat, o.lng]));
    const lats = pts.map((p) => p[0]), lngs = pts.map((p) => p[1]);
    const minLat = Math.min(...lats), maxLat = Math.max(...lats);
    const minLng = Math.min(...lngs), maxLng = Math.max(...lngs);
    const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const spanX = Math.max((maxLng - minLng) * k, 1e-6), spanY = Math.max(maxLat - minLat, 1e-6);
    const width = widthOf(host);
    const height = Math.max(160, Math.min(520, (width * spanY) / spanX));
    const scale = Math.min((width - 10) / spanX, (height - 10) / spanY);
    const px = (p) => `${(5 + (p[1] - minLng) * k * scale).toFixed(1)},` +
                      `${(5 + (maxLat - p[0]) * scale).toFixed(1)}`;
    const chart = svg(width, height, "需求网格");
    const max = Math.max(1, ...cells.map((c) => c.queries));
    for (const c of cells) {
      const poly = el("svg:polygon", { points: c.boundary.map(px).join(" "), class: "cell",
                                       "data-cell": c.cell,
                                       fill: `rgba(224, 145, 47, ${(0.15 + 0.85 * c.queries / max).toFixed(3)})` });
      if (next.has(c.cell)) poly.classList.add("next");
      poly.append(el("svg:title", {}, `${fmt(c.queries)} 次查询 / ${fmt(c.uniques)} 人；最近门店 ` +
                      `${c.nearest_outlet || "—"} ${c.nearest_distance_text || ""}`));
      chart.append(poly);
      if (c.boundary.length && Math.abs(c.boundary[0][0] - c.lat) * scale < 4) {
        // A cell smaller than a few pixels: mark its centre so it can be seen at all.
        const dot = el("svg:circle", { cx: px([c.lat, c.lng]).split(",")[0],
                                       cy: px([c.lat, c.lng]).split(",")[1], r: 5,
                                       class: next.has(c.cell) ? "cell next" : "cell",
                                       fill: poly.getAttribute("fill") });
        dot.append(el("svg:title", {}, poly.textContent));
        chart.append(dot);
      }
    }
    for (const o of outlets) {
      const [cx, cy] = px([o.lat, o.lng]).split(",");
      const dot = el("svg:rect", { x: cx - 3, y: cy - 3, width: 6, height: 6, class: "outlet" });
      dot.append(el("svg:title", {}, `${o.name} (${o.code})`));
      chart.append(dot);
    }
    const legend = el("svg:text", { x: 8, y: height - 6, class: "axis" }, "■ 门店　⬢ 查询（越深越多）");
    chart.append(legend);
    host.replaceChildren(chart);
  }

  window.O2OCharts = { STEPS, NAMES, fmt, pct, table, funnel, line, heat, outlets, promotions,
                       demand };
})();
