/* Routes page: "Who is router" asks through /api/who-is-router and redraws the table without a reload.
   Without this script the button posts the form and the page comes back with the result. */
(function () {
  "use strict";
  var form = document.getElementById("who-is-router-form");
  if (!form) return;
  var csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  var button = document.getElementById("who-is-router");
  var result = document.getElementById("who-is-router-result");

  function say(text, kind) {
    result.textContent = text;
    result.className = "alert-message " + kind;
  }

  function redraw(data) {
    var table = document.getElementById("route-table");
    var summary = document.getElementById("route-summary");
    var s = data.summary;
    if (summary) {
      summary.textContent = s.total + " network(s): " + s.direct + " direct, " + s.learned + " learned (at most " +
        s.max_learned + ").";
    }
    if (!table) { window.location.reload(); return; }  // there was no table to redraw (no routes before)
    var body = table.tBodies[0] || table;
    while (body.rows.length > 1) body.deleteRow(1);
    data.routes.forEach(function (r) {
      var row = body.insertRow(-1);
      row.className = "tr" + (data.learned.indexOf(r.network) >= 0 ? " new" : "");
      [["Network", r.network, " right"], ["Port", r.port, ""], ["Next hop", r.next_hop, ""], ["Status", r.status, ""]]
        .forEach(function (c) {
          var cell = row.insertCell(-1);
          cell.className = "td" + c[2];
          cell.setAttribute("data-title", c[0]);
          cell.textContent = c[1];
        });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    say("Asking who is router on every port ...", "info");
    fetch("/api/who-is-router", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify({ offset: form.elements.offset.value, limit: form.elements.limit.value })
    }).then(function (r) {
      if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
      return r.json().then(function (data) { if (!r.ok) throw new Error(data.error || r.statusText); return data; });
    }).then(function (data) {
      redraw(data);
      say(data.message, "success");
    }).catch(function (err) {
      say("Who is router failed: " + err.message, "error");
    }).then(function () { button.disabled = false; });
  });
})();
