% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-script-page">
  <p class="crumbs"><a href="/freeclient">Free Client</a> &rsaquo; <a href="{{back}}">{{what}}</a> &rsaquo; script</p>
  <h2>Script {{script_name}} of {{what}}</h2>
  <div class="cbi-map-descr">{{note}}{{(": " + path) if path and where != "inline" else ""}}. Saving compiles the script in the sandbox (without running it) and stages it only when it compiles; <a href="/changes">Save &amp; Apply</a> then loads it as the router does.</div>
% if problem:
  <div class="alert-message error" id="script-problem" data-line="{{getattr(problem, 'line', '') or ''}}">Not saved: {{problem}}</div>
% end
% if notice:
  <div class="alert-message success" id="script-notice">{{notice}}</div>
% end
% for p in checked:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} script-checked">{{p.message}}</div>
% end
  <form method="post" action="{{action}}" enctype="multipart/form-data" class="cbi-section" id="script-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
% if file_field:
    <label for="script-file">File name</label>
    <input type="text" id="script-file" name="file" value="{{script_name}}" pattern="[A-Za-z0-9_.\-]+\.lua" required>
% end
    <textarea id="script-text" name="text" rows="24" spellcheck="false" wrap="off" class="code">{{text}}</textarea>
    <div class="cbi-value-description">At most {{max_script // 1024}} KiB. <span id="script-cursor"></span></div>
    <label for="script-upload">Or upload a file</label>
    <input type="file" id="script-upload" name="upload" accept=".lua,text/plain">
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="save-script">Check and save (staged)</button>
      <a class="cbi-button" href="{{back}}">Back</a>
    </div>
  </form>
% if deletable:
  <form method="post" action="{{action}}/delete" class="inline">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <button type="submit" class="cbi-button cbi-button-negative" id="delete-script">Delete (staged)</button>
  </form>
% end
</div>
<script src="/static/freeclient.js" defer></script>
