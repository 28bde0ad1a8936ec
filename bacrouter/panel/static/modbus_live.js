/* bacrouter panel, Modbus live pages: values refreshed without reloading, and the Read Group test as a job. */
(function () {
  "use strict";
  var br = window.bacrouter;
  var root = document.getElementById("modbus-slave") || document.getElementById("modbus-live");
  if (!br || !root) return;
  var FUNCTIONS = { 1: "read coils", 2: "read discrete inputs", 3: "read holding registers", 4: "read input registers" };

  function reliabilityClasses() {
    root.querySelectorAll(".reliability").forEach(function (node) {
      node.className = "reliability " + (node.textContent.trim() === "no fault" ? "ok" : "bad");
    });
  }

  function refresh() {
    br.getJSON(root.getAttribute("data-api")).then(function (data) {
      br.setOnline(data.online, data.offline);
      if (!data.online) return;
      br.setLive(data.live || {});
      reliabilityClasses();
    }).catch(function () { br.setOnline(false); });
  }

  /* ---------------------------------------------------------------- Read Group */

  function cell(row, title, text, cls) {
    var td = row.insertCell(-1);
    td.className = "td" + (cls ? " " + cls : "");
    td.setAttribute("data-title", title);
    td.textContent = text;
    return td;
  }

  function showRequests(table, requests) {
    var body = table.tBodies[0] || table;
    while (body.rows.length > 1) body.deleteRow(1);
    requests.forEach(function (r, i) {
      var row = body.insertRow(-1);
      row.className = "tr request-" + r.result;
      cell(row, "#", String(i + 1), "right");
      cell(row, "Function", r["function"] + " " + (FUNCTIONS[r["function"]] || ""));
      cell(row, "Addresses", r.count > 1 ? r.address + "–" + (r.address + r.count - 1) + " (" + r.count + ")" : String(r.address));
      cell(row, "Result", r.result === "ok" ? "ok" : r.result + (r.error ? ": " + r.error : ""), "result");
      cell(row, "Time", r.ms + " ms", "right");
      cell(row, "Values", r.values ? r.values.join(" ") : "", "mono values");
    });
    table.hidden = !requests.length;
  }

  function readGroup() {
    var button = document.getElementById("read-group"), box = document.getElementById("read-group-job");
    var table = document.getElementById("read-group-table");
    if (!button || !box) return;
    button.addEventListener("click", function () {
      button.disabled = true;
      showRequests(table, []);
      br.runJob(box, "read_group", { slave: root.getAttribute("data-slave") }, function (progress) {
        if (progress.requests) showRequests(table, progress.requests);
      }).then(function (result) {
        showRequests(table, result.requests || []);
        var failed = (result.requests || []).filter(function (r) { return r.result !== "ok"; }).length;
        box.querySelector(".job-text").textContent = (result.requests || []).length + " request(s), " +
          (failed ? failed + " without a good answer" : "all answered");
      }).catch(function () { /* the box says why */ })
        .then(function () { button.disabled = false; });
    });
  }

  reliabilityClasses();
  readGroup();
  var every = parseFloat(root.getAttribute("data-refresh") || "2") * 1000;
  window.setInterval(refresh, every);
})();
