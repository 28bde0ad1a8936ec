/* bacrouter panel: live values and graphs without reloading the page. No library, nothing from elsewhere. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var REFRESH_MS = 5000;
  var csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  var page = document.body.getAttribute("data-page");
  var samples = [];          // the history the router keeps, oldest first
  var capacity = 360;

  function el(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stateClasses() {
    document.querySelectorAll(".state").forEach(function (node) {
      node.className = "state " + node.textContent.trim();
    });
  }

  function times() {
    document.querySelectorAll("[data-time]").forEach(function (node) {
      var t = new Date(parseFloat(node.getAttribute("data-time")) * 1000);
      node.textContent = t.toLocaleString();
    });
  }

  function setLive(live) {
    document.querySelectorAll("[data-live]").forEach(function (node) {
      var key = node.getAttribute("data-live");
      if (Object.prototype.hasOwnProperty.call(live, key) && node.textContent !== live[key]) node.textContent = live[key];
    });
    stateClasses();
  }

  function setOnline(online, why) {
    var badge = document.getElementById("online-indicator");
    if (badge) {
      badge.textContent = online ? "online" : "offline";
      badge.className = "label " + (online ? "success" : "notice");
      badge.title = why || "";
    }
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
      if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
      return r.json();
    });
  }

  function postJSON(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
                        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                        body: JSON.stringify(body) }).then(function (r) {
      if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
      return r.json().then(function (data) { if (!r.ok) throw new Error(data.error || r.statusText); return data; });
    });
  }

  /* ---------------------------------------------------------------- graphs */

  function series(figure) {
    var kind = figure.getAttribute("data-graph"), port = figure.getAttribute("data-port");
    var pick = function (f) { return samples.map(function (s) { return { t: s.t, v: f(s) }; }); };
    if (kind === "npdus") {
      return [
        { cls: "line-in", points: pick(function (s) { return s.ports[port] ? s.ports[port]["in"] : null; }) },
        { cls: "line-out", points: pick(function (s) { return s.ports[port] ? s.ports[port].out : null; }) }
      ];
    }
    if (kind === "rotation") {
      return [{ cls: "line-value", points: pick(function (s) { return s.ports[port] ? s.ports[port].rotation_ms : null; }) }];
    }
    return [{ cls: "line-value", points: pick(function (s) { return s[kind]; }) }];
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function draw(figure) {
    var W = 320, H = 110, L = 34, R = 4, T = 6, B = 16;
    var old = figure.querySelector("svg");
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
    var lines = series(figure);
    var now = samples.length ? samples[samples.length - 1].t : Date.now() / 1000;
    var start = now - 3600;
    var max = 0;
    lines.forEach(function (line) { line.points.forEach(function (p) { if (p.v !== null && p.v !== undefined && p.v > max) max = p.v; }); });
    max = niceMax(max);
    for (var i = 0; i <= 2; i++) {
      var y = T + (H - T - B) * i / 2;
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y, y2: y, "class": "grid" }));
      svg.appendChild(el("text", { x: L - 3, y: y + 3, "text-anchor": "end", "class": "axis" }, String(+(max * (2 - i) / 2).toPrecision(3))));
    }
    svg.appendChild(el("text", { x: L, y: H - 3, "class": "axis" }, "-60 min"));
    svg.appendChild(el("text", { x: W - R, y: H - 3, "text-anchor": "end", "class": "axis" }, "now"));
    var drawn = 0;
    lines.forEach(function (line) {
      var d = "", pen = false;
      line.points.forEach(function (p) {
        if (p.v === null || p.v === undefined || p.t < start) { pen = false; return; }
        var x = L + (W - L - R) * (p.t - start) / 3600, y = T + (H - T - B) * (1 - p.v / max);
        d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        pen = true; drawn++;
      });
      if (d) svg.appendChild(el("path", { d: d, "class": line.cls }));
    });
    if (!drawn) svg.appendChild(el("text", { x: (W + L) / 2, y: H / 2, "text-anchor": "middle", "class": "empty" }, "no samples yet"));
    if (old) figure.replaceChild(svg, old); else figure.appendChild(svg);
  }

  function drawAll() { document.querySelectorAll("figure.graph").forEach(draw); }

  function addHistory(history) {
    if (!history) return;
    capacity = history.capacity || capacity;
    var last = samples.length ? samples[samples.length - 1].t : -1;
    history.samples.forEach(function (s) { if (s.t > last) samples.push(s); });
    if (samples.length > capacity) samples = samples.slice(samples.length - capacity);
  }

  function warnings(lines) {
    var list = document.getElementById("warning-list");
    if (!list || !lines) return;
    list.textContent = "";
    lines.slice().reverse().forEach(function (w) {
      var item = html("li", { "class": w.level });
      item.appendChild(html("span", { "class": "when", "data-time": w.t }));
      item.appendChild(document.createTextNode(" "));
      item.appendChild(html("span", { "class": "label " + (w.level === "error" || w.level === "critical" ? "important" : "warning") }, w.level));
      item.appendChild(document.createTextNode(" " + w.message));
      list.appendChild(item);
    });
    if (!lines.length) list.appendChild(html("li", { "class": "none" }, "No warnings."));
    times();
  }

  function refreshDashboard() {
    var since = samples.length ? "?since=" + samples[samples.length - 1].t : "";
    getJSON("/api/dashboard" + since).then(function (data) {
      setOnline(data.online, data.offline);
      if (!data.online) return;
      setLive(data.live);
      addHistory(data.history);
      drawAll();
      warnings(data.warnings);
    }).catch(function () { setOnline(false); });
  }

  /* ---------------------------------------------------------------- ports */

  function devices(tables) {
    Object.keys(tables || {}).forEach(function (port) {
      var table = document.querySelector('table[data-devices="' + port + '"]');
      if (!table) return;
      var body = table.tBodies[0] || table;
      while (body.rows.length > 1) body.deleteRow(1);
      tables[port].forEach(function (d) {
        var row = body.insertRow(-1);
        row.className = "tr";
        [["MAC", d.mac, ""], ["Role", d.role, ""], ["Frames", d.frames, " right"], ["Last seen", d.last_seen_s + " s ago", " right"]].forEach(function (c) {
          var cell = row.insertCell(-1);
          cell.className = "td" + c[2];
          cell.setAttribute("data-title", c[0]);
          cell.textContent = c[1];
        });
      });
    });
  }

  function captures(names) {
    var list = document.getElementById("capture-list");
    if (!list || !names) return;
    list.textContent = "";
    names.forEach(function (name) {
      var item = html("li");
      item.appendChild(html("a", { href: "/captures/" + encodeURIComponent(name), download: "" }, name));
      list.appendChild(item);
    });
    if (!names.length) list.appendChild(html("li", { "class": "none" }, "No captures yet."));
  }

  function refreshPorts() {
    getJSON("/api/ports").then(function (data) {
      setOnline(data.online, data.offline);
      if (!data.online) return;
      setLive(data.live);
      devices(data.devices);
      captures(data.captures);
      document.dispatchEvent(new CustomEvent("panel:ports", { detail: data }));  // page scripts take their part
    }).catch(function () { setOnline(false); });
  }

  function captureButtons() {
    document.querySelectorAll("button[data-capture]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-capture"), port = button.getAttribute("data-port");
        button.disabled = true;
        postJSON("/api/capture", { port: port, action: action }).then(function (result) {
          refreshPorts();
          if (result.download) window.location = result.download;
        }).catch(function (err) { window.alert("Capture " + action + " on " + port + ": " + err.message); })
          .then(function () { button.disabled = false; });
      });
    });
  }

  /* ---------------------------------------------------------------- long tasks (the daemon's jobs) */

  /* Run a control method as a job in `box` (an element with a <progress>, a .job-text and a .job-cancel button,
     see templates/job.tpl): the bar follows the job's progress, Cancel stops it. Resolves with the job's
     result; rejects with an Error whose message says why (failed, cancelled, the router not running). */
  function runJob(box, method, params, onProgress) {
    var bar = box.querySelector("progress"), text = box.querySelector(".job-text");
    var cancel = box.querySelector(".job-cancel"), id = null, stopped = false;
    box.hidden = false;
    box.className = box.className.replace(/ ?job-(done|failed|cancelled)/g, "");
    if (bar) bar.removeAttribute("value");
    if (text) text.textContent = "starting...";
    function show(view) {
      var p = view.progress || {};
      if (bar && p.total) { bar.max = p.total; bar.value = p.done || 0; }
      if (text) text.textContent = p.text || (p.total ? (p.done || 0) + " of " + p.total : view.state);
      if (onProgress) onProgress(p, view);
    }
    function finish(state, message) {
      if (cancel) cancel.hidden = true;
      box.className += " job-" + state;
      if (text && message) text.textContent = message;
    }
    if (cancel) {
      cancel.hidden = false;
      cancel.onclick = function () {
        stopped = true;
        cancel.disabled = true;
        if (id) postJSON("/api/jobs/" + id + "/cancel", {}).catch(function () {});
      };
      cancel.disabled = false;
    }
    return postJSON("/api/jobs", { method: method, params: params || {} }).then(function (started) {
      id = started.id;
      if (stopped) postJSON("/api/jobs/" + id + "/cancel", {}).catch(function () {});
      return new Promise(function (resolve, reject) {
        function poll() {
          getJSON("/api/jobs/" + id).then(function (view) {
            if (view.error && !view.state) throw new Error(view.error);
            show(view);
            if (view.state === "running") { window.setTimeout(poll, 400); return; }
            if (view.state === "done") { finish("done", null); resolve(view.result); return; }
            var why = view.state === "cancelled" ? "cancelled" : (view.error || {}).message || view.state;
            finish(view.state, why);
            reject(new Error(why));
          }).catch(function (err) { finish("failed", err.message); reject(err); });
        }
        poll();
      });
    }, function (err) { finish("failed", err.message); throw err; });
  }

  window.bacrouter = { getJSON: getJSON, postJSON: postJSON, html: html, setLive: setLive, setOnline: setOnline,
                       times: times, runJob: runJob, csrf: csrf };

  /* ---------------------------------------------------------------- start */

  stateClasses();
  times();
  if (page === "dashboard" && document.getElementById("graphs")) {
    refreshDashboard();
    window.setInterval(refreshDashboard, REFRESH_MS);
  } else if (page === "ports") {
    captureButtons();
    window.setInterval(refreshPorts, REFRESH_MS);
  }
})();
