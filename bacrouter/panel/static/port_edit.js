/* Port editor (/config/ports/NAME): list rows added and removed in place, options shown only in the mode they
   are used in. The form works without this script: every field is shown, and a blank row takes a new entry. */
(function () {
  "use strict";
  var form = document.getElementById("port-form");
  if (!form) return;

  /* ------------------------------------------------ options used only when another has some value */

  function current(select) {
    return select.value || select.getAttribute("data-default") || "";
  }

  function showFields() {
    form.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var rule = field.getAttribute("data-shown-when").split("="), values = rule[1].split("|");
      var control = document.getElementById("o." + rule[0]);
      if (!control) return;
      // a field the loader has a problem with stays in view whatever the mode
      field.hidden = values.indexOf(current(control)) < 0 && !field.classList.contains("has-error");
    });
  }

  var controls = {};
  form.querySelectorAll("[data-shown-when]").forEach(function (field) {
    controls[field.getAttribute("data-shown-when").split("=")[0]] = true;
  });
  Object.keys(controls).forEach(function (name) {
    var control = document.getElementById("o." + name);
    if (control) control.addEventListener("change", showFields);
  });
  showFields();

  /* ------------------------------------------------ list options: one row an entry */

  function wire(row) {
    var remove = row.querySelector("[data-remove-row]");
    if (!remove) return;
    remove.hidden = false;
    remove.addEventListener("click", function () {
      var rows = row.parentNode;
      if (rows.querySelectorAll(".list-row").length > 1) {
        rows.removeChild(row);
      } else {
        row.querySelector("input").value = "";  // the last row stays, empty: the list is emptied
      }
    });
  }

  form.querySelectorAll(".list-row").forEach(wire);
  form.querySelectorAll("[data-add-row]").forEach(function (button) {
    var rows = form.querySelector('.list-rows[data-list="' + button.getAttribute("data-add-row") + '"]');
    if (!rows) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var last = rows.querySelector(".list-row:last-child");
      var row = last.cloneNode(true);
      row.classList.remove("has-error");
      row.querySelectorAll(".field-problem").forEach(function (p) { row.removeChild(p); });
      var input = row.querySelector("input");
      input.value = "";
      input.removeAttribute("id");
      input.setAttribute("placeholder", "new entry");
      input.setAttribute("aria-label", button.getAttribute("data-add-row") + " entry " +
                         (rows.querySelectorAll(".list-row").length + 1));
      rows.appendChild(row);
      wire(row);
      input.focus();
    });
  });
})();
