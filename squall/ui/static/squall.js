// Squall UI pages: poll the REST API (Storm UI's paths) every second and update the
// tables in place, without reloading. Values go into the page as text only
// (textContent), never as HTML: component names and error messages come from user code.
// The actions' token lives in sessionStorage (this tab only), never in the URL.
"use strict";

(function () {
  const POLL_MS = 1000;
  const TOKEN_KEY = "squall.ui.token";
  const params = new URLSearchParams(window.location.search);
  const enc = encodeURIComponent;

  async function getJSON(path) {
    const response = await fetch(path, {headers: {Accept: "application/json"}, cache: "no-store"});
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(body && body.errorMessage ? body.errorMessage
        : `${response.status} ${response.statusText} from ${path}`);
    }
    return body;
  }

  function showLoadError(error) {
    const p = document.getElementById("load-error");
    p.textContent = error ? `Cannot read the API: ${error.message}` : "";
    p.hidden = !error;
  }

  // Calls load() now and POLL_MS after each answer (never two requests at once).
  function poll(load) {
    let timer = null;
    async function tick() {
      clearTimeout(timer);
      try {
        await load();
        showLoadError(null);
      } catch (error) {
        showLoadError(error);
      }
      timer = setTimeout(tick, POLL_MS);
    }
    tick();
    return tick;
  }

  function setCell(td, column, row) {
    const value = row[column.field];
    const text = column.format ? column.format(value, row) : (value == null ? "" : String(value));
    const href = column.href ? column.href(row) : null;
    if (href) {
      let a = td.firstElementChild;
      if (!a) {
        a = document.createElement("a");
        td.appendChild(a);
      }
      if (a.getAttribute("href") !== href) a.setAttribute("href", href);
      if (a.textContent !== text) a.textContent = text;
    } else if (td.textContent !== text) {
      td.textContent = text;
    }
    if (column.title) td.title = column.title(row) || "";
    if (column.className) td.className = column.className(row);
  }

  // Updates tbody to one row per item, keyed by item[key], changing only the cells whose
  // text changed (so a reader's selection, or a test's element, survives a poll).
  function fill(table, items, columns, key) {
    const tbody = table.tBodies[0];
    const old = new Map();
    for (const tr of tbody.rows) old.set(tr.dataset.id, tr);
    items.forEach((item, i) => {
      const id = String(key ? item[key] : i);
      let tr = old.get(id);
      if (tr) {
        old.delete(id);
      } else {
        tr = document.createElement("tr");
        tr.dataset.id = id;
        for (const column of columns) {
          const td = document.createElement("td");
          td.dataset.field = column.field;
          tr.appendChild(td);
        }
      }
      columns.forEach((column, c) => setCell(tr.cells[c], column, item));
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
    });
    for (const tr of old.values()) tr.remove();
  }

  function setHead(table, labels) {
    const tr = table.tHead.rows[0];
    if (tr.cells.length === labels.length) return;
    tr.textContent = "";
    for (const label of labels) {
      const th = document.createElement("th");
      th.textContent = label;
      tr.appendChild(th);
    }
  }

  const col = (field, extra) => Object.assign({field}, extra);
  const statusColumn = col("status", {className: (row) => `status status-${row.status}`});
  const lastError = col("lastError", {title: (row) => row.errorLapsedSecs == null ? ""
    : `${row.errorLapsedSecs} s ago on ${row.errorHost}`});
  const topologyHref = (id) => `/topology.html?id=${enc(id)}`;

  // -- / : cluster summary and topology list ------------------------------------------------

  function indexPage() {
    poll(async () => {
      const [cluster, summary] = await Promise.all([
        getJSON("/api/v1/cluster/summary"), getJSON("/api/v1/topology/summary")]);
      fill(document.getElementById("cluster"), [cluster], [
        col("stormVersion"), col("nimbusUptime"), col("supervisors"), col("slotsUsed"),
        col("slotsFree"), col("slotsTotal"), col("executorsTotal"), col("tasksTotal")]);
      fill(document.getElementById("topologies"), summary.topologies, [
        col("name", {href: (row) => topologyHref(row.id)}), statusColumn, col("uptime"),
        col("workersTotal"), col("executorsTotal"), col("tasksTotal")], "id");
      document.getElementById("no-topologies").hidden = summary.topologies.length > 0;
    });
    poll(async () => {
      const [nimbus, supervisors, boards] = await Promise.all([
        getJSON("/api/v1/nimbus/summary"), getJSON("/api/v1/supervisor/summary"),
        getJSON("/api/v1/dashboard")]);
      fill(document.getElementById("nimbus"), nimbus.nimbuses, [col("host"), col("port"), col("pid"),
        col("status"), col("version"), col("nimbusUpTime")], "host");
      fill(document.getElementById("supervisors"), supervisors.supervisors, [col("id"), col("host"),
        col("pid"), col("uptime"), col("slotsTotal"), col("slotsUsed")], "id");
      // Every worker process of every topology, by the machine (supervisor) it runs on.
      const processes = supervisors.supervisors.flatMap((s) => (s.workers || []).map((w) => ({
        key: `${w.topologyId}/${w.worker}`, topologyId: w.topologyId, worker: w.worker,
        host: s.host, supervisor: s.id, pid: w.pid})));
      fill(document.getElementById("worker-processes"), processes, [
        col("topologyId", {href: (row) => topologyHref(row.topologyId)}), col("worker"), col("host"),
        col("supervisor"), col("pid")], "key");
      fill(document.getElementById("dashboards"), boards.dashboards.map((name) => ({name})),
        [col("name", {href: (row) => `/dashboard.html?name=${enc(row.name)}`})], "name");
      document.getElementById("dashboards").hidden = boards.dashboards.length === 0;
    });
  }

  // -- /topology.html?id=NAME -----------------------------------------------------------------

  function topologyPage() {
    const id = params.get("id") || "";
    let windowChoice = params.get("window") || ":all-time";
    document.getElementById("topology-name").textContent = id;
    document.title = `${id} - Squall UI`;
    document.getElementById("events-link").setAttribute("href", `/events.html?id=${enc(id)}`);
    const api = `/api/v1/topology/${enc(id)}`;
    const componentHref = (component) =>
      `/component.html?topology=${enc(id)}&id=${enc(component)}&window=${enc(windowChoice)}`;

    const refresh = poll(async () => {
      const t = await getJSON(`${api}?window=${enc(windowChoice)}`);
      fill(document.getElementById("summary"), [t], [
        col("name"), col("id"), statusColumn, col("uptime"), col("workersTotal"),
        col("executorsTotal"), col("tasksTotal"), col("msgTimeout")]);
      fill(document.getElementById("topology-stats"), t.topologyStats, [
        col("windowPretty", {href: (row) =>
          `/topology.html?id=${enc(id)}&window=${enc(row.window)}`,
          className: (row) => row.window === windowChoice ? "chosen" : ""}),
        col("emitted"), col("transferred"), col("completeLatency"), col("acked"), col("failed"),
      ], "window");
      document.getElementById("window-hint").textContent = t.windowHint;
      fill(document.getElementById("spouts"), t.spouts, [
        col("spoutId", {href: (row) => componentHref(row.spoutId)}), col("executors"), col("tasks"),
        col("emitted"), col("transferred"), col("completeLatency"), col("acked"), col("failed"),
        lastError], "spoutId");
      fill(document.getElementById("bolts"), t.bolts, [
        col("boltId", {href: (row) => componentHref(row.boltId)}), col("executors"), col("tasks"),
        col("emitted"), col("transferred"), col("capacity"), col("executeLatency"), col("executed"),
        col("processLatency"), col("acked"), col("failed"), lastError], "boltId");
      showCheckpoints(t.checkpoints);
    });
    poll(async () => drawGraph(document.getElementById("graph"), id,
      await getJSON(`${api}/visualization`)));
    poll(async () => showLag(await getJSON(`${api}/lag`)));
    poll(async () => showRules(await getJSON(`${api}/rules`)));
    poll(async () => showLogLevels(await getJSON(`${api}/logconfig`)));

    // Choosing a window re-reads at once, without loading the page again.
    document.getElementById("topology-stats").addEventListener("click", (event) => {
      const a = event.target.closest("a");
      if (!a) return;
      event.preventDefault();
      windowChoice = a.closest("tr").dataset.id;
      window.history.replaceState(null, "", a.getAttribute("href"));
      refresh();
    });

    const token = document.getElementById("token");
    token.value = window.sessionStorage.getItem(TOKEN_KEY) || "";
    token.addEventListener("input", () => window.sessionStorage.setItem(TOKEN_KEY, token.value));
    for (const form of document.querySelectorAll("#actions, #more-actions, #rules-form")) {
      form.addEventListener("submit", (event) => event.preventDefault());
    }
    for (const button of document.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => act(button.dataset.action));
    }
    const value = (elementId) => document.getElementById(elementId).value;

    function say(element, text, ok) {
      element.textContent = text;
      element.className = ok == null ? "" : ok ? "ok" : "error";
      element.hidden = false;
    }

    // POSTs with the token; returns [ok, body or null, text of a refusal].
    async function post(path, body) {
      window.sessionStorage.setItem(TOKEN_KEY, token.value);
      const headers = {Accept: "application/json", Authorization: `Bearer ${token.value.trim()}`};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await fetch(path, {method: "POST", cache: "no-store", headers,
        body: body === undefined ? undefined : JSON.stringify(body)});
      const answer = await response.json().catch(() => null);
      const refusal = answer && answer.errorMessage ? answer.errorMessage
        : `${response.status} ${response.statusText}`;
      return [response.ok, answer, refusal];
    }

    async function act(action) {
      let path = `${api}/${action}`;
      let body;
      const message = document.getElementById("action-message");
      if (action === "kill") {
        const wait = value("kill-wait") || "0";
        if (!window.confirm(`Kill topology ${id}, letting its tuples drain for ${wait} s?`)) {
          say(message, "kill cancelled", null);
          return;
        }
        path += `/${enc(wait)}`;
      } else if (action === "rebalance") {
        path += `/${enc(value("kill-wait") || "0")}`;
      } else if (action === "logconfig" || action === "logreset") {
        path = `${api}/logconfig`;
        const level = action === "logreset" ? null : value("logger-level");
        body = {namedLoggerLevels: {[value("logger-name").trim()]:
          {target_level: level, timeout: Number(value("logger-timeout") || "0")}}};
      } else if (action.startsWith("debug/")) {
        path += `/${enc(value("debug-pct") || "0")}`;
      }
      try {
        const [ok, answer, refusal] = await post(path, body);
        const done = answer && answer.status ? answer.status : "success";
        say(message, ok ? `${action}: ${done}` : `${action} refused: ${refusal}`, ok);
      } catch (error) {
        say(message, `${action} failed: ${error.message}`, false);
      }
      refresh();
    }

    document.getElementById("rules-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (file) document.getElementById("rules-text").value = await file.text();
    });
    document.getElementById("rules-apply").addEventListener("click", async () => {
      const message = document.getElementById("rules-message");
      const component = value("rules-component");
      say(message, `applying the rule file to ${component}...`, null);
      try {
        const [ok, answer, refusal] = await post(`${api}/rules/${enc(component)}`,
          {rules: value("rules-text")});
        if (!ok) {
          const lines = [`not applied: ${refusal}`];
          for (const e of (answer && answer.errors) || []) {
            lines.push(`  line ${e.line}, column ${e.column}: ${e.name}: ${e.error}`);
          }
          say(message, lines.join("\n"), false);
          return;
        }
        const lines = [`version ${answer.version} applied by ${answer.tasks.length} task(s)`];
        let rejected = false;
        for (const task of answer.tasks) {
          for (const r of task.results) {
            if (r.action === "rejected") {
              rejected = true;
              lines.push(`  ${task.component}[${task.task}] ${r.name}: rejected at line ${r.line}, `
                + `column ${r.column} (${r.kept ? "the running version goes on" : "not started"}): ${r.error}`);
            } else {
              lines.push(`  ${task.component}[${task.task}] ${r.name}: ${r.action}`);
            }
          }
        }
        say(message, lines.join("\n"), !rejected);
      } catch (error) {
        say(message, `apply failed: ${error.message}`, false);
      }
    });
  }

  function showCheckpoints(c) {
    const table = document.getElementById("checkpoints");
    document.getElementById("no-checkpoints").hidden = c != null;
    table.hidden = c == null;
    if (c == null) return;
    const last = c.lastCompleted || {};
    const failed = c.lastFailed;
    const row = Object.assign({}, c, {
      lastId: last.id == null ? "" : String(last.id),
      lastAt: last.timestamp == null ? "" : new Date(last.timestamp).toISOString(),
      lastDuration: last.durationMs == null ? "" : last.durationMs.toFixed(1),
      mean: c.durationMsMean == null ? "" : c.durationMsMean.toFixed(1),
      max: c.durationMsMax == null ? "" : c.durationMsMax.toFixed(1),
      size: c.stateSizeBytes == null ? "not measured" : `${c.stateSizeBytes} B`,
      failedText: failed ? `${failed.timestamp ? new Date(failed.timestamp).toISOString() + " " : ""}${failed.error}` : ""});
    fill(table, [row], [col("completed"), col("failed"), col("declined"), col("restoreCount"),
      col("lastId"), col("lastAt"), col("lastDuration"), col("mean"), col("max"), col("size"),
      col("failedText")]);
  }

  function showLag(lag) {
    const rows = [];
    for (const [spout, info] of Object.entries(lag)) {
      for (const [topic, partitions] of Object.entries(info.spoutLagResult || {})) {
        for (const [partition, p] of Object.entries(partitions)) {
          rows.push(Object.assign({key: `${spout}|${topic}|${partition}`, spout, topic, partition}, p));
        }
      }
    }
    document.getElementById("no-lag").hidden = Object.keys(lag).length > 0;
    const table = document.getElementById("lag");
    table.hidden = rows.length === 0;
    fill(table, rows, [col("spout"), col("topic"), col("partition"), col("consumerCommittedOffset"),
      col("logHeadOffset"), col("lag"), col("doneOffset"), col("doneLag")], "key");
  }

  function showRules(r) {
    const rows = r.statements.map((s) => Object.assign({key: `${s.component}|${s.task}|${s.name}`}, s));
    document.getElementById("no-rules").hidden = rows.length > 0;
    const table = document.getElementById("rules");
    table.hidden = rows.length === 0;
    fill(table, rows, [col("component"), col("task"), col("name"), col("stream"), col("eventsIn"),
      col("rowsOut"), col("text")], "key");
    const live = [...new Set(r.statements.filter((s) => s.live).map((s) => s.component))];
    const form = document.getElementById("rules-form");
    form.hidden = live.length === 0;
    const select = document.getElementById("rules-component");
    if ([...select.options].map((o) => o.value).join("|") !== live.join("|")) {
      select.textContent = "";
      for (const c of live) {
        const option = document.createElement("option");
        option.value = c;
        option.textContent = c;
        select.appendChild(option);
      }
    }
  }

  function showLogLevels(config) {
    const parts = Object.entries(config.namedLoggerLevels).map(([name, e]) =>
      `${name} = ${e.target_level}` + (e.timeout_epoch
        ? ` until ${new Date(e.timeout_epoch).toISOString()}` : "") + ` (then ${e.reset_level})`);
    document.getElementById("log-levels").textContent =
      parts.length ? `Log levels set: ${parts.join("; ")}` : "";
  }

  // -- the topology graph: inline SVG drawn here, updated in place each poll -------------------

  const SVG = "http://www.w3.org/2000/svg";
  const NODE_W = 160;
  const NODE_H = 54;
  const COL_W = 320;
  const ROW_H = 90;
  const graphState = {key: null, last: new Map()};

  function svg(tag, attrs, parent) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function rateText(rate) {
    if (rate == null) return "…/s";
    return `${rate >= 100 ? Math.round(rate).toLocaleString("en-US") : rate.toFixed(1)}/s`;
  }

  function drawGraph(container, topology, viz) {
    const names = Object.keys(viz);
    const edges = [];
    for (const name of names) {
      for (const input of viz[name][":inputs"]) {
        edges.push({from: input[":component"], stream: input[":stream"], to: name,
          grouping: input[":grouping"]});
      }
    }
    const key = names.join("\u0000") + "\u0001" + edges.map((e) => `${e.from}|${e.stream}|${e.to}`).join("\u0000");
    if (graphState.key !== key) {
      layoutGraph(container, topology, viz, names, edges);
      graphState.key = key;
    }
    const now = performance.now();
    for (const name of names) {
      const node = viz[name];
      const detail = container.querySelector(`g.node[data-id="${CSS.escape(name)}"] text.detail`);
      const text = node[":type"] === "spout" ? `complete ${node[":latency"]} ms`
        : `capacity ${Number(node[":capacity"]).toFixed(3)}`;
      if (detail && detail.textContent !== text) detail.textContent = text;
    }
    for (const e of edges) {
      const source = viz[e.from];
      const emitted = source ? (source[":emitted"][e.stream] || 0) : 0;
      const id = `${e.from}|${e.stream}|${e.to}`;
      const before = graphState.last.get(id);
      graphState.last.set(id, [now, emitted]);
      const rate = before && now > before[0] ? (emitted - before[1]) * 1000 / (now - before[0]) : null;
      const label = container.querySelector(`text.edge-label[data-edge="${CSS.escape(id)}"]`);
      if (label) {
        label.textContent = `${e.stream} · ${rateText(rate)}`;
        label.dataset.emitted = String(emitted);
      }
    }
  }

  function layoutGraph(container, topology, viz, names, edges) {
    const layer = new Map();
    for (const name of names) {       // the API lists components sources first
      let depth = 0;
      for (const input of viz[name][":inputs"]) {
        if (layer.has(input[":component"])) depth = Math.max(depth, layer.get(input[":component"]) + 1);
      }
      layer.set(name, viz[name][":type"] === "spout" ? 0 : Math.max(depth, 1));
    }
    const rows = new Map();
    const pos = new Map();
    for (const name of names) {
      const l = layer.get(name);
      const r = rows.get(l) || 0;
      rows.set(l, r + 1);
      pos.set(name, [20 + l * COL_W, 20 + r * ROW_H]);
    }
    const width = 40 + (Math.max(...layer.values(), 0) + 1) * COL_W;
    const height = 40 + Math.max(...rows.values(), 1) * ROW_H;
    container.textContent = "";
    const root = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": `graph of topology ${topology}`}, container);
    const defs = svg("defs", {}, root);
    const marker = svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse"}, defs);
    svg("path", {d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head"}, marker);
    const counts = new Map();
    for (const e of edges) {
      if (!pos.has(e.from) || !pos.has(e.to)) continue;
      const [x1, y1] = pos.get(e.from);
      const [x2, y2] = pos.get(e.to);
      // Several streams between the same two components are fanned out vertically.
      const pair = `${e.from}|${e.to}`;
      const k = counts.get(pair) || 0;
      counts.set(pair, k + 1);
      const sx = x1 + NODE_W;
      const sy = y1 + NODE_H / 2 + k * 8;
      const ty = y2 + NODE_H / 2 + k * 8;
      const back = x2 <= x1;
      const d = back
        ? `M ${sx} ${sy} C ${sx + 60} ${sy + 70}, ${x2 - 60} ${ty + 70}, ${x2} ${ty}`
        : `M ${sx} ${sy} C ${(sx + x2) / 2} ${sy}, ${(sx + x2) / 2} ${ty}, ${x2} ${ty}`;
      const id = `${e.from}|${e.stream}|${e.to}`;
      const g = svg("g", {class: "edge", "data-edge": id}, root);
      svg("title", {}, g).textContent = `${e.from} → ${e.to}: stream ${e.stream}, ${e.grouping} grouping`;
      svg("path", {d, class: "edge-line", "marker-end": "url(#arrow)"}, g);
      const label = svg("text", {class: "edge-label", "data-edge": id, "text-anchor": "middle",
        x: back ? (sx + x2) / 2 : (sx + x2) / 2, y: back ? Math.max(sy, ty) + 58 : (sy + ty) / 2 - 6 - k * 12}, g);
      label.textContent = `${e.stream} · ${rateText(null)}`;
    }
    for (const name of names) {
      const [x, y] = pos.get(name);
      const kind = viz[name][":type"];
      const a = svg("a", {href: `/component.html?topology=${enc(topology)}&id=${enc(name)}`}, root);
      const g = svg("g", {class: `node ${kind}`, "data-id": name}, a);
      svg("rect", {x, y, width: NODE_W, height: NODE_H, rx: kind === "spout" ? 24 : 6}, g);
      const title = svg("text", {x: x + NODE_W / 2, y: y + 22, "text-anchor": "middle", class: "name"}, g);
      title.textContent = name.length > 20 ? name.slice(0, 19) + "…" : name;
      svg("text", {x: x + NODE_W / 2, y: y + 41, "text-anchor": "middle", class: "detail"}, g);
      svg("title", {}, g).textContent =
        `${kind} ${name}: ${viz[name][":executors"]} executor(s), ${viz[name][":tasks"]} task(s)`;
    }
  }

  // -- /events.html?id=NAME: the sampled tuples ------------------------------------------------

  function eventsPage() {
    const id = params.get("id") || "";
    const link = document.getElementById("topology-link");
    link.textContent = id;
    link.setAttribute("href", `/topology.html?id=${enc(id)}`);
    document.title = `events of ${id} - Squall UI`;
    let after = 0;
    const tbody = document.getElementById("events").tBodies[0];
    poll(async () => {
      const answer = await getJSON(`/api/v1/topology/${enc(id)}/events?after=${after}`);
      const sampling = Object.entries(answer.sampling).map(([c, pct]) =>
        `${c === "*" ? "every component" : c} at ${pct} %`);
      document.getElementById("sampling").textContent =
        sampling.length ? `Sampling ${sampling.join(", ")}.` : "Sampling is off: start it with Debug on the topology page.";
      for (const e of answer.events) {
        after = Math.max(after, e.seq);
        const tr = document.createElement("tr");
        tr.dataset.id = String(e.seq);
        for (const text of [new Date(e.ts).toISOString(), e.component, String(e.task), e.stream,
          JSON.stringify(e.values)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.appendChild(td);
        }
        tbody.insertBefore(tr, tbody.firstChild);
      }
      while (tbody.rows.length > 500) tbody.deleteRow(-1);
    });
  }

  // -- /dashboard.html?name=NAME: an application's dashboard ------------------------------------

  function drawChart(container, name, points) {
    const width = 560;
    const height = 160;
    let root = container.querySelector(`svg[data-series="${CSS.escape(name)}"]`);
    if (!root) {
      const figure = document.createElement("figure");
      figure.className = "chart";
      const caption = document.createElement("figcaption");
      figure.appendChild(caption);
      root = svg("svg", {width, height, viewBox: `0 0 ${width} ${height}`, "data-series": name,
        role: "img", "aria-label": `${name} per second`}, figure);
      svg("polyline", {class: "series", points: ""}, root);
      svg("line", {class: "axis", x1: 40, y1: height - 20, x2: width - 10, y2: height - 20}, root);
      svg("text", {class: "ymax", x: 4, y: 14}, root);
      svg("text", {class: "span", x: width - 10, y: height - 4, "text-anchor": "end"}, root);
      container.appendChild(figure);
    }
    const max = Math.max(1, ...points.map((p) => p[1]));
    const t0 = points.length ? points[0][0] : 0;
    const t1 = points.length ? points[points.length - 1][0] : 1;
    const span = Math.max(1, t1 - t0);
    const xy = points.map(([t, v]) =>
      `${(40 + (t - t0) / span * (width - 50)).toFixed(1)},${(height - 20 - v / max * (height - 40)).toFixed(1)}`);
    root.querySelector("polyline").setAttribute("points", xy.join(" "));
    root.querySelector("text.ymax").textContent = rateText(max);
    root.querySelector("text.span").textContent = `last ${Math.round(span / 1000)} s`;
    const last = points.length ? points[points.length - 1][1] : null;
    root.parentNode.querySelector("figcaption").textContent = `${name}: ${rateText(last)}`;
    root.dataset.last = last == null ? "" : String(last);
  }

  function dashboardPage() {
    const name = params.get("name") || "";
    poll(async () => {
      const d = await getJSON(`/api/v1/dashboard/${enc(name)}`);
      document.getElementById("dashboard-title").textContent = d.title;
      document.title = `${d.title} - Squall UI`;
      const charts = document.getElementById("charts");
      for (const [series, points] of Object.entries(d.series)) drawChart(charts, series, points);
      fill(document.getElementById("figures"),
        Object.entries(d.figures).map(([label, value]) => ({label, value})),
        [col("label"), col("value", {format: (v) => typeof v === "number" ? v.toLocaleString("en-US") : String(v)})],
        "label");
      const lists = document.getElementById("lists");
      lists.textContent = "";
      for (const [title, items] of Object.entries(d.lists)) {
        const h = document.createElement("h3");
        h.textContent = `${title} (${items.length})`;
        const p = document.createElement("p");
        p.className = "list";
        p.dataset.list = title;
        p.textContent = items.length ? items.join(", ") : "none";
        lists.append(h, p);
      }
      const tables = document.getElementById("tables");
      for (const [title, t] of Object.entries(d.tables)) {
        let table = tables.querySelector(`table[data-table="${CSS.escape(title)}"]`);
        if (!table) {
          const h = document.createElement("h3");
          h.textContent = title;
          table = document.createElement("table");
          table.dataset.table = title;
          table.createTHead().insertRow();
          table.createTBody();
          tables.append(h, table);
        }
        setHead(table, t.columns);
        fill(table, t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]]))),
          t.columns.map((c) => col(c)));
      }
    });
  }

  // -- /component.html?topology=NAME&id=COMPONENT ------------------------------------------------

  function componentPage() {
    const topology = params.get("topology") || "";
    const id = params.get("id") || "";
    const windowChoice = params.get("window") || ":all-time";
    const link = document.getElementById("topology-link");
    link.textContent = topology;
    link.setAttribute("href", topologyHref(topology));
    document.getElementById("component-name").textContent = id;
    document.title = `${id} - ${topology} - Squall UI`;

    poll(async () => {
      const c = await getJSON(
        `/api/v1/topology/${enc(topology)}/component/${enc(id)}?window=${enc(windowChoice)}`);
      const spout = c.componentType === "spout";
      fill(document.getElementById("summary"), [c], [
        col("id"), col("name", {href: () => topologyHref(topology)}), col("componentType"),
        col("executors"), col("tasks"), col("topologyStatus")]);
      const counts = spout
        ? [["emitted", "Emitted"], ["transferred", "Transferred"],
          ["completeLatency", "Complete latency (ms)"], ["acked", "Acked"], ["failed", "Failed"]]
        : [["emitted", "Emitted"], ["transferred", "Transferred"],
          ["executeLatency", "Execute latency (ms)"], ["executed", "Executed"],
          ["processLatency", "Process latency (ms)"], ["acked", "Acked"], ["failed", "Failed"]];
      const windows = document.getElementById("window-stats");
      setHead(windows, ["Window", ...counts.map((c) => c[1])]);
      fill(windows, spout ? c.spoutSummary : c.boltStats,
        [col("windowPretty"), ...counts.map((c) => col(c[0]))], "window");
      document.getElementById("window-hint").textContent = c.windowHint;
      document.getElementById("executor-window-hint").textContent = c.windowHint;
      fill(document.getElementById("output-stats"), c.outputStats,
        [col("stream"), col("emitted"), col("transferred")], "stream");
      const executorCounts = spout ? counts
        : [...counts.slice(0, 2), ["capacity", "Capacity (last 10s)"], ...counts.slice(2)];
      const executors = document.getElementById("executor-stats");
      setHead(executors, ["Id", "Uptime", "Host", ...executorCounts.map((c) => c[1])]);
      fill(executors, c.executorStats,
        [col("id"), col("uptime"), col("host"), ...executorCounts.map((c) => col(c[0]))], "id");
      fill(document.getElementById("errors"), c.componentErrors.slice().reverse(), [
        col("errorTime", {format: (ms) => new Date(ms).toISOString()}), col("errorWorker"),
        col("errorTask"), col("errorHost"), col("error")]);
    });
  }

  const pages = {index: indexPage, topology: topologyPage, component: componentPage,
    events: eventsPage, dashboard: dashboardPage};
  pages[document.body.dataset.page]();
})();
