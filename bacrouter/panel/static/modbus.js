/* bacrouter panel, Modbus configuration pages (modbus_edit.py): confirmations, the points filter, "select all",
   and master options shown for their protocol only. One listener per control, none per row: the table of a
   slave with 1,000 points stays as quick as plain HTML. */
(function () {
  "use strict";

  // a form with data-confirm asks first (deleting a master, a slave, a point)
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  var table = document.getElementById("points");
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tr[id^='point-']")) : [];

  // the filter box narrows the rows of this page as you type (the Filter button asks the server, for every page)
  var filter = document.getElementById("filter");
  if (filter && rows.length) {
    var texts = null, timer = null;
    filter.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        texts = texts || rows.map(function (row) { return row.textContent.toLowerCase(); });
        var needle = filter.value.trim().toLowerCase();
        rows.forEach(function (row, i) { row.hidden = needle !== "" && texts[i].indexOf(needle) < 0; });
      }, 120);
    });
  }

  // select every shown row; Delete selected says how many
  var all = document.getElementById("select-all");
  if (all && rows.length) {
    all.hidden = false;
    all.addEventListener("change", function () {
      rows.forEach(function (row) {
        if (!row.hidden) row.querySelector("input[name='sel']").checked = all.checked;
      });
    });
  }
  var form = document.getElementById("points-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      var count = form.querySelectorAll("input[name='sel']:checked").length;
      if (button && button.value === "delete" && !window.confirm("Delete " + count + " point(s)? (staged)")) {
        event.preventDefault();
      }
    });
  }

  // master options that mean something for some protocols only (data-shown-when="protocol=rtu|ascii")
  var dependent = document.querySelectorAll("[data-shown-when]");
  function showFields() {
    dependent.forEach(function (node) {
      var rule = node.getAttribute("data-shown-when").split("=");
      var control = document.getElementById("o." + rule[0]);
      var value = control ? control.value : "";
      var unset = control && value === "" ? control.querySelector("option[value='']") : null;
      if (unset) value = (unset.textContent.match(/default: ([\w-]+)/) || [])[1] || "";  // "(default: rtu)"
      node.hidden = control ? rule[1].split("|").indexOf(value) < 0 : false;
    });
  }
  if (dependent.length) {
    document.querySelectorAll("select").forEach(function (s) { s.addEventListener("change", showFields); });
    showFields();
  }
})();
