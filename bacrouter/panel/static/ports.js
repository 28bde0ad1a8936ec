/* Ports page: each BBMD's foreign device table, redrawn from /api/ports as panel.js refreshes it. */
(function () {
  "use strict";

  function cell(row, title, text, right) {
    var td = row.insertCell(-1);
    td.className = "td" + (right ? " right" : "");
    td.setAttribute("data-title", title);
    td.textContent = text;
  }

  document.addEventListener("panel:ports", function (event) {
    var tables = event.detail.fdt || {};
    Object.keys(tables).forEach(function (port) {
      var table = document.querySelector('table[data-fdt="' + port + '"]');
      if (!table) return;
      var body = table.tBodies[0] || table;
      while (body.rows.length > 1) body.deleteRow(1);
      tables[port].forEach(function (e) {
        var row = body.insertRow(-1);
        row.className = "tr";
        cell(row, "Address", e.address);
        cell(row, "TTL", e.ttl + " s", true);
        cell(row, "Time left", e.remaining + " s", true);
      });
      if (!tables[port].length) {
        var none = body.insertRow(-1);
        none.className = "tr none";
        var td = none.insertCell(-1);
        td.className = "td";
        td.colSpan = 3;
        td.textContent = "No foreign device is registered.";
      }
    });
  });
})();
