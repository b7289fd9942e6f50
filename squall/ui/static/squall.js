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
  }

  // -- /topology.html?id=NAME -----------------------------------------------------------------

  function topologyPage() {
    const id = params.get("id") || "";
    let windowChoice = params.get("window") || ":all-time";
    document.getElementById("topology-name").textContent = id;
    document.title = `${id} - Squall UI`;
    const componentHref = (component) =>
      `/component.html?topology=${enc(id)}&id=${enc(component)}&window=${enc(windowChoice)}`;

    const refresh = poll(async () => {
      const t = await getJSON(`/api/v1/topology/${enc(id)}?window=${enc(windowChoice)}`);
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
    });

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
    const form = document.getElementById("actions");
    form.addEventListener("submit", (event) => event.preventDefault());
    for (const button of form.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", () => act(button.dataset.action));
    }

    async function act(action) {
      let path = `/api/v1/topology/${enc(id)}/${action}`;
      const message = document.getElementById("action-message");
      if (action === "kill") {
        const wait = document.getElementById("kill-wait").value || "0";
        if (!window.confirm(`Kill topology ${id}, letting its tuples drain for ${wait} s?`)) {
          message.textContent = "kill cancelled";
          message.className = "";
          message.hidden = false;
          return;
        }
        path += `/${enc(wait)}`;
      }
      window.sessionStorage.setItem(TOKEN_KEY, token.value);
      let text;
      let ok = false;
      try {
        const response = await fetch(path, {
          method: "POST", cache: "no-store",
          headers: {Accept: "application/json", Authorization: `Bearer ${token.value.trim()}`}});
        const body = await response.json().catch(() => null);
        ok = response.ok;
        text = ok ? `${action}: ${body.status}`
          : `${action} refused: ${body && body.errorMessage ? body.errorMessage
            : `${response.status} ${response.statusText}`}`;
      } catch (error) {
        text = `${action} failed: ${error.message}`;
      }
      message.textContent = text;
      message.className = ok ? "ok" : "error";
      message.hidden = false;
      refresh();
    }
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
        col("errorTime", {format: (ms) => new Date(ms).toISOString()}), col("errorHost"),
        col("error")]);
    });
  }

  const pages = {index: indexPage, topology: topologyPage, component: componentPage};
  pages[document.body.dataset.page]();
})();
