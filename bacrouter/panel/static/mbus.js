/* M-Bus page: scan a line and read a meter as jobs of the daemon (mbus_scan, mbus_read; progress bar and Cancel
   from panel.js's runJob), show the meters and records, and stage points from the records picked
   (/api/mbus/points). Uses window.bacrouter from panel.js. */
(function () {
  "use strict";
  var br = window.bacrouter;
  var scanForm = document.getElementById("scan-form");
  if (!br || !scanForm) return;
  var $ = function (id) { return document.getElementById(id); };
  var meter = null;  // the meter read last: {address, meter, records}

  function value(id) { return $(id).value.trim(); }

  function lineParams() {
    var params = { resource: value("mbus-line"), baud: Number(value("mbus-baud")), parity: value("mbus-parity") };
    if (value("mbus-timeout") !== "") params.timeout_ms = Number(value("mbus-timeout"));
    if (value("mbus-retries") !== "") params.retries = Number(value("mbus-retries"));
    return params;
  }

  function problem(id, err) {
    var box = $(id);
    if (err && err.message !== "cancelled") { box.textContent = err.message; box.hidden = false; } else box.hidden = true;
  }

  function cell(row, title, text, cls) {
    var attrs = { "class": "td" + (cls ? " " + cls : "") };
    if (title) attrs["data-title"] = title;
    var td = br.html("td", attrs, text === null || text === undefined || text === "" ? "-" : String(text));
    row.appendChild(td);
    return td;
  }

  /* ---------------------------------------------------------------- scan */

  function showMode() {
    var secondary = value("mbus-mode") === "secondary";
    document.querySelectorAll(".primary-only").forEach(function (n) { n.hidden = secondary; });
    document.querySelectorAll(".secondary-only").forEach(function (n) { n.hidden = !secondary; });
  }
  $("mbus-mode").addEventListener("change", showMode);
  showMode();

  function meters(list) {
    var body = document.querySelector("#meter-table tbody");
    body.textContent = "";
    (list || []).forEach(function (m) {
      var address = String(m.address);
      var row = br.html("tr", { "class": "tr" + (m.collision ? " collision" : ""), "data-address": address });
      cell(row, "Address", address);
      cell(row, "ID", m.collision ? "collision: several meters answer" : (m.id || m.problem));
      cell(row, "Manufacturer", m.manufacturer);
      cell(row, "Medium", m.medium);
      cell(row, "Version", m.version, "right");
      var actions = cell(row, null, "");
      actions.textContent = "";
      if (!m.collision) {
        var read = br.html("button", { type: "button", "class": "cbi-button read-meter" }, "Read");
        read.addEventListener("click", function () { $("read-address").value = address; readMeter(); });
        actions.appendChild(read);
      }
      body.appendChild(row);
    });
    $("meters").hidden = !(list && list.length);
  }

  scanForm.addEventListener("submit", function (event) {
    event.preventDefault();
    problem("scan-problem", null);
    var params = lineParams();
    params.mode = value("mbus-mode");
    if (params.mode === "primary") {
      params.first = Number(value("mbus-first") || 0);
      params.last = Number(value("mbus-last") || 250);
    } else {
      params.mask = value("mbus-mask") || "FFFFFFFFFFFFFFFF";
    }
    $("scan-start").disabled = true;
    meters([]);
    br.runJob($("scan-job"), "mbus_scan", params, function (progress) {
      if (progress.found) meters(progress.found);
    }).then(function (result) {
      meters(result.meters);
      var text = $("scan-job").querySelector(".job-text");
      text.textContent = result.meters.length + " meter(s) found";
    }, function (err) { problem("scan-problem", err); }).then(function () { $("scan-start").disabled = false; });
  });

  /* ---------------------------------------------------------------- read */

  function slug(record) {
    var base = (record.quantity || record.unit || "record").toLowerCase().replace(/\(.*?\)/g, "")
      .replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    return (base || "record") + "_" + record.id;
  }

  function describe(record) {
    var parts = [];
    if (record.quantity) parts.push(record.quantity);
    if (record.bacnet_unit && record.bacnet_value !== null && record.bacnet_value !== undefined)
      parts.push(record.bacnet_value + " " + record.bacnet_unit);
    if (record.vife_text && record.vife_text.length) parts.push(record.vife_text.join(", "));
    return parts.join("; ");
  }

  function records(answer) {
    var body = document.querySelector("#record-table tbody");
    body.textContent = "";
    answer.records.forEach(function (r) {
      var row = br.html("tr", { "class": "tr", "data-record": String(r.id) });
      var pick = cell(row, null, "");
      pick.textContent = "";
      pick.appendChild(br.html("input", { type: "checkbox", "class": "record-pick", "data-id": String(r.id),
                                          "aria-label": "record " + r.id }));
      cell(row, "ID", r.id, "right");
      cell(row, "Function", r["function"]);
      cell(row, "Unit", r.unit);
      cell(row, "Value", r.text, "right");
      cell(row, "Storage", r.storage_number, "right");
      cell(row, "Tariff", r.tariff, "right");
      cell(row, "Description", describe(r));
      var name = cell(row, "Point name", "");
      name.textContent = "";
      name.appendChild(br.html("input", { type: "text", "class": "record-name", value: slug(r), maxlength: "64",
                                          "aria-label": "point name of record " + r.id }));
      body.appendChild(row);
    });
    var m = answer.meter || {};
    var summary = $("meter-summary");
    summary.textContent = "Meter " + answer.address + ": " + [m.id && "ID " + m.id, m.manufacturer, m.medium_text,
      m.version !== undefined && "version " + m.version, m.product_name].filter(Boolean).join(", ") +
      " - " + answer.records.length + " record(s) in " + answer.frames.length + " telegram(s).";
    summary.hidden = false;
    $("records").hidden = false;
    $("points-section").hidden = false;
    $("points-device").value = "meter_" + (m.id || answer.address);
    $("pick-all").checked = false;
  }

  function readMeter() {
    problem("read-problem", null);
    var params = lineParams();
    params.address = value("read-address");
    $("read-start").disabled = true;
    br.runJob($("read-job"), "mbus_read", params).then(function (answer) {
      meter = answer;
      records(answer);
    }, function (err) { problem("read-problem", err); }).then(function () { $("read-start").disabled = false; });
  }

  $("read-form").addEventListener("submit", function (event) { event.preventDefault(); readMeter(); });
  $("pick-all").addEventListener("change", function () {
    var on = $("pick-all").checked;
    document.querySelectorAll(".record-pick").forEach(function (box) { box.checked = on; });
  });

  /* ---------------------------------------------------------------- make points */

  function showBus() { $("new-bus-field").hidden = value("points-bus") !== ""; }
  $("points-bus").addEventListener("change", showBus);
  showBus();

  function staged(count) {
    var badge = $("staged-badge");
    if (!badge) {
      badge = br.html("a", { id: "staged-badge", "class": "label warning", href: "/changes" });
      var indicators = $("indicators");
      if (indicators) indicators.insertBefore(badge, indicators.firstChild);
    }
    badge.textContent = count + " change(s) staged";
  }

  $("points-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var result = $("points-result");
    result.hidden = true;
    if (!meter) return;
    var byId = {};
    meter.records.forEach(function (r) { byId[r.id] = r; });
    var points = [];
    document.querySelectorAll("#record-table tbody tr").forEach(function (row) {
      var box = row.querySelector(".record-pick");
      if (!box || !box.checked) return;
      var r = byId[Number(box.getAttribute("data-id"))];
      points.push({ id: r.id, name: row.querySelector(".record-name").value.trim(),
                    description: [r["function"], r.unit].filter(Boolean).join(", ") });
    });
    var body = { bus: value("points-bus") || value("points-new-bus"), new_bus: value("points-bus") === "",
                 resource: value("mbus-line"), baud: Number(value("mbus-baud")), parity: value("mbus-parity"),
                 device: { name: value("points-device"), address: String(meter.address),
                           instance: value("points-instance") === "" ? null : Number(value("points-instance")) },
                 points: points };
    $("points-make").disabled = true;
    br.postJSON("/api/mbus/points", body).then(function (answer) {
      result.className = "alert-message success";
      result.textContent = (answer.added.length ? answer.added.length + " point(s) added to " + answer.bus + " / " +
        answer.device + " (" + answer.file + ")" : "No point added") +
        (answer.skipped.length ? "; skipped: " + answer.skipped.join("; ") : "") + ". ";
      result.appendChild(br.html("a", { href: "/changes", id: "points-review" }, "Review and apply"));
      result.hidden = false;
      staged(answer.staged);
      if (answer.new_bus) {  // it exists now: offer it, and keep the next points on it
        var option = br.html("option", { value: answer.bus }, answer.bus + " (" + body.resource + ")");
        $("points-bus").insertBefore(option, $("points-bus").firstChild);
        $("points-bus").value = answer.bus;
        showBus();
      }
    }, function (err) {
      result.className = "alert-message error";
      result.textContent = err.message;
      result.hidden = false;
    }).then(function () { $("points-make").disabled = false; });
  });
})();
