/* Discovery page: Who-Is as a job of the daemon (progress: the time waited), the devices found, and per device
   a property read and written through /api/discovery/read and /write. Uses window.bacrouter from panel.js. */
(function () {
  "use strict";
  var br = window.bacrouter;
  var form = document.getElementById("whois-form");
  if (!br || !form) return;
  var box = document.getElementById("whois-job");
  var problem = document.getElementById("whois-problem");
  var section = document.getElementById("devices-section");
  var body = document.querySelector("#device-table tbody");
  var start = document.getElementById("whois-start");

  function number(id) {
    var text = document.getElementById(id).value.trim();
    return text === "" ? null : Number(text);
  }

  function cell(row, title, text, cls) {
    var attrs = { "class": "td" + (cls ? " " + cls : "") };
    if (title) attrs["data-title"] = title;
    var td = br.html("td", attrs, text === null || text === undefined ? "-" : String(text));
    row.appendChild(td);
    return td;
  }

  function field(label, input) {
    var wrap = br.html("label", { "class": "io-field" });
    wrap.appendChild(br.html("span", {}, label));
    wrap.appendChild(input);
    return wrap;
  }

  /* the device as the daemon's read/write want it: its address behind the router, or (the router itself) its instance */
  function target(device) {
    return device.network !== null && device.network !== undefined && device.address ? device.address : device.instance;
  }

  function show(result, node, ok, text) {
    node.textContent = text;
    node.className = "io-result " + (ok ? "ok" : "failed");
    return result;
  }

  function ioRow(device, key) {
    var row = br.html("tr", { "class": "tr device-io", id: "io-" + key });
    var td = br.html("td", { "class": "td", colspan: "6" });
    var object = br.html("input", { type: "text", "class": "io-object", value: "device," + device.instance, "aria-label": "object" });
    var property = br.html("input", { type: "text", "class": "io-property", value: "object-name", "aria-label": "property" });
    var read = br.html("button", { type: "button", "class": "cbi-button cbi-button-action io-read" }, "Read");
    var readResult = br.html("span", { "class": "io-result" });
    var value = br.html("input", { type: "text", "class": "io-value", placeholder: "value (null relinquishes)", "aria-label": "value" });
    var priority = br.html("select", { "class": "io-priority", "aria-label": "priority" });
    priority.appendChild(br.html("option", { value: "" }, "no priority"));
    for (var p = 1; p <= 16; p++) priority.appendChild(br.html("option", { value: String(p) }, "priority " + p));
    var write = br.html("button", { type: "button", "class": "cbi-button cbi-button-apply io-write" }, "Write");
    var writeResult = br.html("span", { "class": "io-result" });
    var line1 = br.html("div", { "class": "io-line" });
    [field("Object", object), field("Property", property), read, readResult].forEach(function (n) { line1.appendChild(n); });
    var line2 = br.html("div", { "class": "io-line" });
    [field("Value", value), field("Priority", priority), write, writeResult].forEach(function (n) { line2.appendChild(n); });
    td.appendChild(line1);
    td.appendChild(line2);
    row.appendChild(td);

    function params() {
      return { device: target(device), object: object.value.trim(), property: property.value.trim() };
    }
    read.addEventListener("click", function () {
      read.disabled = true;
      readResult.textContent = "reading...";
      readResult.className = "io-result";
      br.postJSON("/api/discovery/read", params()).then(function (answer) {
        show(answer, readResult, true, typeof answer.value === "object" ? JSON.stringify(answer.value) : String(answer.value));
      }, function (err) { show(null, readResult, false, err.message); }).then(function () { read.disabled = false; });
    });
    write.addEventListener("click", function () {
      var body = params();
      body.value = value.value.trim() === "null" ? null : value.value.trim();
      body.priority = priority.value || null;
      write.disabled = true;
      writeResult.textContent = "writing...";
      writeResult.className = "io-result";
      br.postJSON("/api/discovery/write", body).then(function () {
        show(null, writeResult, true, "written");
      }, function (err) { show(null, writeResult, false, err.message); }).then(function () { write.disabled = false; });
    });
    return row;
  }

  /* A BACnet/IP MAC (6 octets: IPv4 address and UDP port) as people write it; an MS/TP MAC (1 octet) as its
     number; anything else as bacpypes3 writes it. */
  function macText(mac) {
    var hex = /^0x([0-9a-f]+)$/i.exec(mac || "");
    if (!hex) return mac === null || mac === undefined ? "-" : String(mac);
    var h = hex[1];
    if (h.length === 2) return String(parseInt(h, 16));
    if (h.length !== 12) return mac;
    var ip = [0, 2, 4, 6].map(function (i) { return parseInt(h.substr(i, 2), 16); }).join(".");
    return ip + ":" + parseInt(h.substr(8, 4), 16);
  }

  function devices(list) {
    body.textContent = "";
    list.forEach(function (d) {
      var key = String(d.instance);
      var row = br.html("tr", { "class": "tr", "data-instance": key });
      cell(row, "Instance", d.instance, "right");
      cell(row, "Network", d.network === null ? "local" : d.network, "right");
      cell(row, "MAC", macText(d.mac)).title = d.mac || "";
      cell(row, "Vendor", d.vendor, "right");
      cell(row, "Name", d.name);
      var actions = cell(row, null, "");
      var toggle = br.html("button", { type: "button", "class": "cbi-button io-toggle", id: "io-toggle-" + key }, "Read / write");
      actions.textContent = "";
      actions.appendChild(toggle);
      body.appendChild(row);
      var io = null;
      toggle.addEventListener("click", function () {
        if (!io) { io = ioRow(d, key); row.parentNode.insertBefore(io, row.nextSibling); return; }
        io.hidden = !io.hidden;
      });
    });
    document.getElementById("devices-count").textContent = list.length + " device(s) answered.";
    section.hidden = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    problem.hidden = true;
    var params = { wait: number("whois-wait") || 3 };
    var network = document.getElementById("whois-network").value;
    if (network !== "") params.network = Number(network);
    if (number("whois-low") !== null) params.low = number("whois-low");
    if (number("whois-high") !== null) params.high = number("whois-high");
    start.disabled = true;
    br.runJob(box, "discover", params).then(function (result) {
      devices(result.devices || []);
    }, function (err) {
      if (err.message !== "cancelled") { problem.textContent = "Who-Is: " + err.message; problem.hidden = false; }
    }).then(function () { start.disabled = false; });
  });
})();
