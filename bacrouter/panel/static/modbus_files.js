/* bacrouter panel, Modbus files: uploads with a progress bar and Cancel. Without this script the forms post as
   they are; with it the upload shows how far it is, then that the router checks the file, and a refused file's
   message appears in place. */
(function () {
  "use strict";

  function size(octets) {
    return octets >= 1048576 ? (octets / 1048576).toFixed(1) + " MB" : Math.ceil(octets / 1024) + " kB";
  }

  function upload(form) {
    var box = form.querySelector(".job"), bar = box.querySelector("progress");
    var text = box.querySelector(".job-text"), cancel = box.querySelector(".job-cancel");
    var button = form.querySelector("button[type=submit]");
    var xhr = new XMLHttpRequest();
    box.hidden = false;
    box.className = "job";
    cancel.hidden = false;
    cancel.disabled = false;
    button.disabled = true;
    text.textContent = "uploading...";
    function done(state, message) {
      cancel.hidden = true;
      button.disabled = false;
      box.className = "job job-" + state;
      text.textContent = message;
    }
    cancel.onclick = function () { xhr.abort(); };
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      text.textContent = "uploading: " + size(e.loaded) + " of " + size(e.total);
    };
    xhr.upload.onload = function () {
      bar.removeAttribute("value");  // indeterminate: the panel reads and checks the whole file now
      text.textContent = "checking the file...";
    };
    xhr.onabort = function () { done("cancelled", "cancelled: nothing was imported"); };
    xhr.onerror = function () { done("failed", "the upload failed (the panel is not reachable)"); };
    xhr.onload = function () {
      if (xhr.status === 401) { window.location = "/login"; return; }
      if (xhr.status >= 200 && xhr.status < 300) {  // the report's page, after the redirect
        window.location = xhr.responseURL + "#report";
        return;
      }
      var fresh = new DOMParser().parseFromString(xhr.responseText, "text/html").getElementById("modbus-files");
      var root = document.getElementById("modbus-files");
      if (fresh && root) {
        root.parentNode.replaceChild(document.importNode(fresh, true), root);
        bind();
        var shown = document.getElementById("report") || document.getElementById("import-problem");
        if (shown) shown.scrollIntoView();
      } else {
        done("failed", "refused (" + xhr.status + "): " + xhr.responseText.slice(0, 200));
      }
    };
    xhr.open("POST", form.action);
    xhr.send(new FormData(form));
  }

  function bind() {
    document.querySelectorAll("form.upload").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        upload(form);
      });
    });
  }

  bind();
})();
