// The status page: polls /ops/status.json and redraws. No framework, no build step.
"use strict";

(function () {
  const POLL_MS = 3000;
  const HISTORY = 120; // samples kept for the chart (six minutes at one poll every 3 s)
  const SVG = "http://www.w3.org/2000/svg";
  const lagHistory = [];
  let previous = null;

  const byId = (id) => document.getElementById(id);
  const text = (id, value) => { byId(id).textContent = value === null || value === undefined ? "–" : String(value); };
  const number = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

  function cell(row, value) {
    const td = document.createElement("td");
    td.textContent = value === null || value === undefined ? "–" : String(value);
    row.appendChild(td);
  }

  function fillTable(id, rows, columns) {
    const body = byId(id);
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      for (const column of columns) cell(tr, column(item));
      body.appendChild(tr);
    }
  }

  // The q-quantile of cumulative buckets [[bound, count], ...], as Prometheus interpolates it.
  function quantile(q, buckets) {
    if (!buckets.length) return null;
    const total = buckets[buckets.length - 1][1];
    if (total <= 0) return null;
    const rank = q * total;
    let lowerBound = 0, lowerCount = 0;
    for (const [bound, count] of buckets) {
      if (count >= rank) {
        if (!isFinite(bound)) return lowerBound;
        const width = count - lowerCount;
        return lowerBound + (bound - lowerBound) * (width ? (rank - lowerCount) / width : 0);
      }
      lowerBound = bound; lowerCount = count;
    }
    return lowerBound;
  }

  function requestRows(status) {
    const before = new Map((previous ? previous.requests : []).map((r) => [r.route, r]));
    const seconds = previous ? status.now - previous.now : 0;
    return status.requests.map((route) => {
      const old = before.get(route.route);
      let rate = null, p99 = route.p99;
      if (old && seconds > 0) {
        rate = (route.count - old.count) / seconds;
        const oldBuckets = new Map(old.buckets.map(([b, c]) => [b, c]));
        const window = route.buckets.map(([b, c]) => [b, c - (oldBuckets.get(b) || 0)]);
        const windowed = quantile(0.99, window);
        if (windowed !== null) p99 = windowed;
      }
      return { route: route.route, rate, p99, count: route.count, errors: route.errors };
    });
  }

  // Tick spacings of the time axis, in seconds: the first that gives at most six ticks.
  const TICK_STEPS = [5, 10, 15, 30, 60, 120, 300, 600];
  const timeOfDay = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function svgElement(name, attributes, content) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function drawChart() {
    const svg = byId("lag-chart");
    svg.replaceChildren();
    // Drawn in the chart's own pixels, so labels are not stretched with it.
    const width = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 800);
    const height = 160, top = 18, bottom = 22;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    const max = Math.max(1, ...lagHistory.map((s) => s.lag));
    const end = lagHistory[lagHistory.length - 1].t;
    const start = Math.min(lagHistory[0].t, end - 30); // at least half a minute wide
    const x = (t) => ((t - start) / (end - start)) * width;
    const y = (lag) => height - bottom - (lag / max) * (height - top - bottom);
    const step = TICK_STEPS.find((s) => (end - start) / s <= 6) || TICK_STEPS[TICK_STEPS.length - 1];
    for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
      svg.appendChild(svgElement("line", { class: "grid", x1: x(t), x2: x(t), y1: top, y2: height - bottom }));
      const anchor = x(t) < 40 ? "start" : x(t) > width - 40 ? "end" : "middle";
      svg.appendChild(svgElement("text", { class: "tick", x: x(t), y: height - 6, "text-anchor": anchor }, timeOfDay(t)));
    }
    svg.appendChild(svgElement("line", { class: "axis", x1: 0, x2: width, y1: height - bottom, y2: height - bottom }));
    const samples = lagHistory.length === 1 ? [{ t: start, lag: lagHistory[0].lag }, lagHistory[0]] : lagHistory;
    const points = samples.map((s) => x(s.t).toFixed(1) + "," + y(s.lag).toFixed(1));
    svg.appendChild(svgElement("polyline", { points: points.join(" ") }));
    svg.appendChild(svgElement("text", { x: 4, y: 12 }, "max " + max + " events"));
  }

  function render(status) {
    const model = status.read_model || {};
    const store = status.store || {};
    const badge = byId("ready");
    badge.textContent = status.ready ? "ready" : "not ready";
    badge.className = "badge " + (status.ready ? "ok" : "bad");
    text("reasons", (status.reasons || []).join("; "));
    text("updated", new Date(status.now * 1000).toLocaleTimeString());
    text("store-head", store.available ? store.head : "n/a");
    text("watermark", model.watermark);
    text("live-generation", model.live_generation);
    const lag = store.available ? store.projector_lag_events : model.lag_events;
    text("lag-events", lag);
    text("lag-seconds", model.lag_seconds);
    text("relay-position", store.relay_position);
    text("relay-lag", store.relay_lag_events);
    text("dead-letter-count", store.available ? (store.dead_letters ?? 0) : "n/a");
    if (previous && status.now > previous.now && model.watermark !== null && previous.read_model.watermark !== null) {
      const rate = (model.watermark - previous.read_model.watermark) / (status.now - previous.now);
      text("events-rate", number(Math.max(0, rate), 1));
    }
    if (lag !== null && lag !== undefined) {
      lagHistory.push({ t: status.now, lag: lag });
      if (lagHistory.length > HISTORY) lagHistory.shift();
      drawChart();
    }
    fillTable("requests", requestRows(status), [
      (r) => r.route,
      (r) => number(r.rate, 1),
      (r) => (r.p99 === null ? "–" : (r.p99 * 1000).toFixed(2)),
      (r) => r.count,
      (r) => r.errors,
    ]);
    fillTable("generations", status.generations || [], [
      (g) => g.generation, (g) => g.watermark, (g) => (g.live ? "live" : ""),
    ]);
    fillTable("workspaces", status.workspaces || [], [(w) => w.name, (w) => w.workspace_id, (w) => w.apps]);
    text("workspaces-note", status.workspaces_complete === false ? "partial: the scan budget ran out" : "");
    fillTable("dead-letters", store.recent_dead_letters || [], [
      (d) => d.id, (d) => d.position, (d) => d.type, (d) => d.reason, (d) => d.attempts, (d) => d.last_failed_at,
    ]);
    const replay = status.replay;
    const bar = byId("replay-progress");
    if (replay) {
      const total = store.available ? store.head : null;
      const share = total ? Math.min(1, replay.events / total) : null;
      text("replay", replay.generation + " (" + replay.phase + "): " + replay.events + " events" +
        (share === null ? "" : ", " + (share * 100).toFixed(1) + " %"));
      bar.hidden = share === null;
      if (share !== null) bar.value = share;
    } else {
      text("replay", "none running");
      bar.hidden = true;
    }
    const heal = status.last_self_heal;
    text("self-heal", heal ? heal.reason + " → " + heal.generation + " at " +
      new Date(Number(heal.at) * 1000).toLocaleString() : "none");
    previous = status;
  }

  async function poll() {
    const error = byId("error");
    try {
      const response = await fetch("/ops/status.json", { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        window.location.assign("/ops");
        return;
      }
      if (!response.ok) throw new Error("status " + response.status);
      render(await response.json());
      error.hidden = true;
    } catch (failure) {
      error.textContent = "cannot refresh: " + failure.message;
      error.hidden = false;
    } finally {
      window.setTimeout(poll, POLL_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", poll);
})();
