/* The managers' dashboard: token login (sessionStorage), filters, then every chart from the
   analytics API of this same server. */
"use strict";
(function () {
  const C = window.O2OCharts;
  const KEY = "o2o.dashboard.token";
  const API = "/api/v1/analytics/";
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(KEY);
  let scope = null;

  class Unauthorized extends Error {}

  async function api(path, params) {
    const query = new URLSearchParams(params || {}).toString();
    const resp = await fetch(API + path + (query ? "?" + query : ""), {
      headers: { Authorization: "Bearer " + token }, cache: "no-store" });
    if (resp.status === 401) throw new Unauthorized("令牌无效或已过期，请重新登录。");
    if (!resp.ok) {
      let message = `请求失败（${resp.status}）`;
      try { message = (await resp.json()).error.message || message; } catch (_) { /* keep */ }
      throw new Error(message);
    }
    return path.endsWith(".csv") ? resp.blob() : resp.json();
  }

  function showLogin(message) {
    sessionStorage.removeItem(KEY);
    token = null;
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("who").textContent = "";
    $("login-error").textContent = message || "";
  }

  async function enter() {
    try {
      scope = await api("scope");
    } catch (err) {
      showLogin(err instanceof Unauthorized ? err.message : `无法进入：${err.message}`);
      return;
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    $("who").textContent = `${scope.name}（${scope.role === "admin" ? "管理员" : "区域经理"}）`;
    fillSelect($("region"), scope.regions.map((r) => [r.id, r.name]));
    fillOutlets();
    const today = new Date();
    const past = new Date(today.getTime() - 29 * 86400000);
    $("to").value = $("to").value || iso(today);
    $("from").value = $("from").value || iso(past);
    await loadAll();
  }

  const iso = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);

  function fillSelect(select, pairs) {
    select.replaceChildren(new Option("全部", ""));
    for (const [value, label] of pairs) select.append(new Option(label, value));
  }

  function fillOutlets() {
    const region = $("region").value;
    fillSelect($("outlet"), scope.outlets
      .filter((o) => !region || String(o.region_id) === region)
      .map((o) => [o.id, `${o.name} (${o.code})`]));
  }

  function params(extra) {
    const p = { from: $("from").value, to: $("to").value };
    if ($("region").value) p.region_id = $("region").value;
    return Object.assign(p, extra || {});
  }

  function withOutlet(p) {
    if ($("outlet").value) p.outlet_id = $("outlet").value;
    return p;
  }

  /* Run one section: mark it loading, draw, and leave a state the tests (and people) can see. */
  async function section(id, work) {
    const card = $(id), host = card.querySelector(".chart");
    card.dataset.state = "loading";
    try {
      await work(host, card);
      card.dataset.state = "ready";
    } catch (err) {
      if (err instanceof Unauthorized) { showLogin(err.message); return; }
      card.dataset.state = "error";
      host.replaceChildren(Object.assign(document.createElement("p"),
                                         { className: "error", textContent: err.message }));
    }
  }

  let heatRows = [];
  const NEXT_KM = 3;

  async function loadAll() {
    $("filter-error").textContent = "";
    if ($("from").value > $("to").value) {
      $("filter-error").textContent = "开始日期不能晚于结束日期。";
      return;
    }
    $("next-km").textContent = NEXT_KM;
    await Promise.all([
      section("funnel", async (host) => C.funnel(host, await api("funnel", withOutlet(params())))),
      section("daily", async (host) => {
        const r = await api("funnel", withOutlet(params({ group_by: "day" })));
        C.line(host, r.rows, r.outlet_id ? ["impression", "click", "visit"]
                                        : ["query", "click", "visit"]);
      }),
      section("heat", async (host) => {
        heatRows = (await api("funnel", withOutlet(params({ group_by: "weekday_hour" })))).rows;
        C.heat(host, heatRows, $("heat-step").value);
      }),
      section("outlets", async (host) => C.outlets(host, (await api("funnel",
        params({ group_by: "outlet" }))).rows)),
      section("promotions", async (host) => C.promotions(host, await api("promotions",
        withOutlet(params())))),
      section("demand", async (host) => {
        const [grid, next] = await Promise.all([
          api("demand", params({ limit: 1500 })),
          api("open-next", params({ radius_km: NEXT_KM, min_queries: 2, top: 10 }))]);
        const region = $("region").value;
        C.demand(host, grid.cells, new Set(next.cells.map((c) => c.cell)),
                 scope.outlets.filter((o) => !region || String(o.region_id) === region));
        const list = $("next-list");
        list.replaceChildren(document.createElement("h3"));
        list.firstChild.textContent = `下一家店可以开在这里（附近 ${NEXT_KM} 公里内没有门店）`;
        list.append(next.cells.length ? C.table(["位置（格中心）", "查询", "人数", "最近门店"],
          next.cells.map((c) => [`${c.lat.toFixed(3)}, ${c.lng.toFixed(3)}`, C.fmt(c.queries),
            C.fmt(c.uniques), c.nearest_distance_m === null ? "—"
              : `${c.nearest_outlet} ${c.nearest_distance_text}`]))
          : Object.assign(document.createElement("p"), { className: "empty",
                                                          textContent: "没有这样的网格。" }));
      }),
    ]);
  }

  async function download(button) {
    const path = button.dataset.csv;
    const p = path.startsWith("funnel") ? withOutlet(params({ group_by: button.dataset.group }))
      : path.startsWith("promotions") ? withOutlet(params())
      : params(path.startsWith("open-next") ? { radius_km: NEXT_KM, min_queries: 2 } : {});
    try {
      const blob = await api(path, p);
      const a = Object.assign(document.createElement("a"), {
        href: URL.createObjectURL(blob),
        download: `${path.replace(".csv", "")}_${p.from}_${p.to}.csv` });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (err) {
      if (err instanceof Unauthorized) showLogin(err.message);
      else $("filter-error").textContent = err.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      token = $("token").value.trim();
      $("token").value = "";
      sessionStorage.setItem(KEY, token);
      enter();
    });
    $("logout").addEventListener("click", () => showLogin(""));
    $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadAll(); });
    $("region").addEventListener("change", fillOutlets);
    $("heat-step").addEventListener("change", () => C.heat($("heat").querySelector(".chart"),
                                                          heatRows, $("heat-step").value));
    document.querySelectorAll("[data-csv]").forEach((b) =>
      b.addEventListener("click", () => download(b)));
    if (token) enter(); else showLogin("");
  });
})();
