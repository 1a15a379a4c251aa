/* The stresskit Resources page: polls /stresskit/resources/data every second and draws live
 * CPU and memory charts per agent host (system line, tracked processes, browser group) and per
 * load generator, with the current alerts, the agents' state and the recorded gaps.
 * Text from agents is only ever set with textContent. window.stresskitResources exposes the
 * poll count and the points held, for tests and curious people.
 */
(function () {
  "use strict";
  var MAX_WINDOW = 900, MAX_PROCESSES = 8;
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
                 "#7f7f7f", "#d62728"];
  var params = new URLSearchParams(location.search);
  if (params.get("embed") === "1") document.body.classList.add("embedded");
  // Locust's theme choice (its toggle stores it in localStorage.theme), else the system's
  function applyTheme() {
    var stored = null;
    try { stored = window.localStorage.getItem("theme"); } catch (e) { stored = null; }
    var dark = stored ? stored === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
    var wanted = dark ? "dark" : "light";
    if (document.documentElement.dataset.theme !== wanted) {
      document.documentElement.dataset.theme = wanted;
      return true;
    }
    return false;
  }
  applyTheme();
  var state = { series: {}, after: 0, polls: 0, points: 0, errors: 0, snapshot: null, charts: {}, colors: {} };
  window.stresskitResources = state;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clock(t) { return t ? new Date(t * 1000).toLocaleTimeString() : ""; }
  function seriesKey(s) { return s.host + "\u0000" + s.kind + "\u0000" + s.name; }
  function colorOf(key, index) {
    if (!state.colors[key]) state.colors[key] = PALETTE[Object.keys(state.colors).length % PALETTE.length];
    return state.colors[key];
  }
  function windowSeconds() { return Number(document.getElementById("window").value) || MAX_WINDOW; }

  function merge(list, now) {
    list.forEach(function (s) {
      var key = seriesKey(s);
      var cur = state.series[key];
      if (!cur) cur = state.series[key] = { host: s.host, kind: s.kind, name: s.name, points: [] };
      s.points.forEach(function (p) {
        if (!cur.points.length || p[0] > cur.points[cur.points.length - 1][0]) cur.points.push(p);
      });
    });
    var horizon = now - MAX_WINDOW, total = 0;
    Object.keys(state.series).forEach(function (key) {
      var pts = state.series[key].points;
      while (pts.length && pts[0][0] < horizon) pts.shift();
      if (!pts.length) delete state.series[key]; else total += pts.length;
    });
    state.points = total;
  }

  function column(series, index, scale) {
    return series.points.map(function (p) {
      var v = p[index];
      return [p[0], v === null || v === undefined ? null : v * (scale || 1)];
    });
  }
  function latest(series, index) {
    for (var i = series.points.length - 1; i >= 0; i--) if (series.points[i][index] !== null) return series.points[i][index];
    return null;
  }

  function card(container, id, title) {
    var existing = document.getElementById(id);
    if (existing) return existing;
    var node = el("div", null, "card");
    node.id = id;
    var head = el("h3");
    head.appendChild(el("span", title));
    head.appendChild(el("span", "", "card-state"));
    node.appendChild(head);
    var charts = el("div", null, "charts");
    ["cpu", "mem"].forEach(function (kind) {
      var box = el("div");
      box.appendChild(el("div", kind === "cpu" ? "CPU %" : (id.indexOf("gen") === 0 ? "RSS MB" : "Memory %"),
        "chart-title"));
      var canvas = el("canvas");
      canvas.className = "chart-" + kind;
      box.appendChild(canvas);
      box.appendChild(el("div", null, "legend series-legend"));
      charts.appendChild(box);
    });
    node.appendChild(charts);
    container.appendChild(node);
    return node;
  }

  function current(line) {
    for (var i = line.points.length - 1; i >= 0; i--) if (line.points[i][1] !== null) return line.points[i][1];
    return null;
  }

  function drawChart(node, kind, lines, now, threshold, unit, minMax) {
    var canvas = node.querySelector("canvas.chart-" + kind);
    var legend = canvas.parentNode.querySelector(".series-legend");
    var key = node.id + ":" + kind;
    if (!state.charts[key]) state.charts[key] = new window.LineChart(canvas, { unit: unit, minMax: minMax });
    state.charts[key].draw(lines, now, windowSeconds(), threshold);
    legend.textContent = "";
    lines.forEach(function (line) {
      var item = el("span");
      var swatch = el("i");
      swatch.style.background = line.color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(line.label));
      var value = current(line);
      if (value !== null) item.appendChild(el("b", unit === "MB" ? Math.round(value) + " MB" : value.toFixed(1) + "%"));
      legend.appendChild(item);
    });
  }

  function renderHosts(snap, now) {
    var container = document.getElementById("hosts");
    var hosts = {};
    snap.agents.forEach(function (a) { hosts[a.host] = a; });
    Object.keys(state.series).forEach(function (key) {
      var s = state.series[key];
      if (s.kind !== "generator" && !(s.host in hosts)) hosts[s.host] = null;
    });
    Object.keys(hosts).sort().forEach(function (host, index) {
      var node = card(container, "host-" + index, host);
      node.dataset.host = host;
      var agent = hosts[host];
      var stateNode = node.querySelector(".card-state");
      if (agent && !agent.connected && agent.down_since) {
        stateNode.textContent = "agent unreachable since " + clock(agent.down_since);
        stateNode.className = "card-state down";
      } else {
        stateNode.textContent = agent && agent.connected ? "live" : "";
        stateNode.className = "card-state up";
      }
      var mine = Object.keys(state.series).map(function (k) { return state.series[k]; })
        .filter(function (s) { return s.host === host && s.kind !== "generator"; });
      var system = mine.filter(function (s) { return s.kind === "system"; })[0];
      var procs = mine.filter(function (s) { return s.kind === "process"; })
        .sort(function (a, b) { return (latest(b, 3) || 0) - (latest(a, 3) || 0); }).slice(0, MAX_PROCESSES);
      var browsers = mine.filter(function (s) { return s.kind === "browsers"; })[0];
      var cpu = [], mem = [];
      var accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#15803d";
      if (system) {
        cpu.push({ label: "system", color: accent, width: 3, points: column(system, 1) });
        mem.push({ label: "system", color: accent, width: 3, points: column(system, 2) });
      }
      procs.forEach(function (p) {
        var color = colorOf(seriesKey(p));
        cpu.push({ label: p.name, color: color, points: column(p, 1) });
        mem.push({ label: p.name, color: color, points: column(p, 2) });
      });
      if (browsers) mem.push({ label: "browsers", color: "#d62728", points: column(browsers, 2) });
      drawChart(node, "cpu", cpu, now, snap.thresholds.cpu_percent, "%", 100);
      drawChart(node, "mem", mem, now, snap.thresholds.memory_percent, "%", 100);
    });
  }

  function renderGenerators(now) {
    var container = document.getElementById("generators");
    var gens = Object.keys(state.series).map(function (k) { return state.series[k]; })
      .filter(function (s) { return s.kind === "generator"; });
    if (!gens.length) return;
    var node = card(container, "gen-all", "CPU and memory of each load generator (its own process)");
    var cpu = [], rss = [];
    gens.forEach(function (g) {
      var color = colorOf(seriesKey(g));
      cpu.push({ label: g.name, color: color, points: column(g, 1) });
      rss.push({ label: g.name, color: color, points: column(g, 3, 1 / 1048576) });
    });
    drawChart(node, "cpu", cpu, now, null, "%", 100);
    drawChart(node, "mem", rss, now, null, "MB", 64);
  }

  function renderTables(snap) {
    var body = document.querySelector("#agents tbody");
    body.textContent = "";
    snap.agents.forEach(function (a) {
      var row = el("tr");
      row.appendChild(el("td", a.host));
      row.appendChild(el("td", a.url));
      var cls = a.connected ? "up" : (a.down_since ? "down" : "");
      row.appendChild(el("td", a.connected ? "streaming" : (a.down_since ? "unreachable since " + clock(a.down_since)
        + (a.error ? " — " + a.error : "") : (a.error || "waiting")), cls));
      row.appendChild(el("td", a.samples));
      row.appendChild(el("td", a.gaps));
      row.appendChild(el("td", a.lost));
      body.appendChild(row);
    });
    var alerts = document.getElementById("alerts");
    alerts.textContent = "";
    var active = snap.alerts.active, past = snap.alerts.history;
    if (!active.length && !past.length) alerts.appendChild(el("span", "none", "empty"));
    active.forEach(function (a) {
      alerts.appendChild(el("div", "ACTIVE: " + a.host + " " + a.metric + " " + a.value.toFixed(1) + "% above "
        + a.threshold + "% since " + clock(a.since), "alert"));
    });
    past.slice(-10).forEach(function (a) {
      alerts.appendChild(el("div", clock(a.time) + ": " + a.host + " " + a.metric + " " + a.value.toFixed(1)
        + "% stayed above " + a.threshold + "% since " + clock(a.since)));
    });
    var gaps = document.getElementById("gaps");
    gaps.textContent = "";
    if (!snap.gaps.length) gaps.appendChild(el("span", "none", "empty"));
    snap.gaps.slice(-20).forEach(function (g) {
      gaps.appendChild(el("div", clock(g.start) + ": " + g.host + " lost " + g.lost + " sample(s) — " + g.reason,
        "gap"));
    });
  }

  function render(snap) {
    if (snap.revision < state.after) {  // Locust restarted: start over
      state.series = {};
      state.after = 0;
      return;
    }
    state.snapshot = snap;
    state.polls += 1;
    if (applyTheme()) state.charts = {};
    var now = snap.now;
    merge(snap.series, now);
    state.after = snap.revision;
    document.getElementById("state").textContent = snap.running ? "test running — collecting"
      : "no test running (agents are sampled while a test runs)";
    var updated = document.getElementById("updated");
    updated.textContent = "updated " + clock(now);
    updated.dataset.polls = String(state.polls);
    updated.dataset.points = String(state.points);
    renderTables(snap);
    renderHosts(snap, now);
    renderGenerators(now);
  }

  function poll() {
    fetch("/stresskit/resources/data?after=" + encodeURIComponent(state.after), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(render)
      .catch(function (err) {
        state.errors += 1;
        document.getElementById("state").textContent = "cannot reach Locust: " + err.message;
      })
      .then(function () { setTimeout(poll, 1000); });
  }
  document.getElementById("window").addEventListener("change", function () {
    if (state.snapshot) { renderHosts(state.snapshot, state.snapshot.now); renderGenerators(state.snapshot.now); }
  });
  poll();
})();
