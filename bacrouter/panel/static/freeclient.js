/* Free Client pages: bus states refreshed live, "Test bus" as a job, the script editor's error line. */
(function () {
  "use strict";
  var b = window.bacrouter;
  var REFRESH_MS = 3000;

  function refresh() {
    b.getJSON("/api/freeclient").then(function (data) {
      b.setOnline(data.online, data.offline);
      b.setLive(data.live || {});
    }).catch(function () { b.setOnline(false); });
  }

  var RELIABILITY = { 0: "no fault", 7: "unreliable", 12: "communication failure" };

  function showResult(box, result) {
    box.textContent = "";
    var devices = result.device_list || [];
    var online = devices.filter(function (d) { return d.online; }).length;
    box.appendChild(b.html("p", { "class": "test-summary" }, "State " + result.state +
      (result.reason ? " (" + result.reason + ")" : "") + ": " + online + " of " + devices.length +
      " device(s) online, " + ((result.counters || {}).transactions || 0) + " transaction(s), " +
      ((result.counters || {}).noreply || 0) + " without reply"));
    var table = b.html("table", { "class": "table cbi-section-table" });
    var head = table.insertRow(-1);
    head.className = "tr table-titles";
    ["Object", "Name", "Value", "Reliability"].forEach(function (t) { head.appendChild(b.html("th", { "class": "th" }, t)); });
    (result.objects || []).forEach(function (o) {
      var row = table.insertRow(-1);
      row.className = "tr";
      [["Object", o.object], ["Name", o.name], ["Value", String(o.value)],
       ["Reliability", RELIABILITY[o.reliability] || String(o.reliability)]].forEach(function (c) {
        var cell = row.insertCell(-1);
        cell.className = "td";
        cell.setAttribute("data-title", c[0]);
        cell.textContent = c[1];
      });
    });
    var wrap = b.html("div", { "class": "table-wrap" });
    wrap.appendChild(table);
    box.appendChild(wrap);
    box.hidden = false;
  }

  function testButtons() {
    document.querySelectorAll("button[data-test-bus]").forEach(function (button) {
      var bus = button.getAttribute("data-test-bus");
      var box = document.querySelector('[data-test-box="' + bus + '"]');
      if (!box) return;
      button.addEventListener("click", function () {
        var result = document.getElementById("test-result-" + bus);
        result.hidden = true;
        button.disabled = true;
        var job = box.querySelector(".job");
        b.runJob(job, "freeclient_test", { bus: bus }).then(function (answer) {
          var bar = job.querySelector("progress");
          if (bar) bar.value = bar.max;  // one call, no steps to count: done is all of it
          showResult(result, answer);
        }).catch(function () { /* the job box says why */ }).then(function () { button.disabled = false; });
      });
    });
  }

  /* the script editor: the line Lua complained about is selected, the cursor's line is shown */
  function editor() {
    var text = document.getElementById("script-text");
    if (!text) return;
    var cursor = document.getElementById("script-cursor");
    function lineAt(pos) { return text.value.slice(0, pos).split("\n").length; }
    function showCursor() { if (cursor) cursor.textContent = "Line " + lineAt(text.selectionStart) + "."; }
    ["keyup", "click", "focus"].forEach(function (e) { text.addEventListener(e, showCursor); });
    var problem = document.getElementById("script-problem");
    var line = problem ? parseInt(problem.getAttribute("data-line"), 10) : NaN;
    if (line > 0) {
      var lines = text.value.split("\n"), start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      var end = start + (lines[line - 1] || "").length;
      text.focus();
      text.setSelectionRange(start, end);
      text.scrollTop = Math.max(0, (line - 5) * (text.scrollHeight / Math.max(lines.length, 1)));
      showCursor();
    }
  }

  testButtons();
  editor();
  if (document.querySelector('[data-live^="fc."]')) window.setInterval(refresh, REFRESH_MS);
})();
