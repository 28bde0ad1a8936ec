% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-bus-page">
  <p class="crumbs"><a href="/freeclient">Free Client</a> &rsaquo; bus {{bus}}</p>
  <h2>Free Client bus {{bus}}</h2>
  <div class="cbi-map-descr">{{doc}} Saving stages the edit; <a href="/changes">Save &amp; Apply</a> puts it into service.</div>
  <div class="cbi-section bus-state" id="bus-state" data-bus="{{bus}}">
    <span>State <strong class="state" data-live="fc.{{bus}}.state" id="state-{{bus}}">{{live["fc." + bus + ".state"]}}</strong></span>
    <span>online <strong data-live="fc.{{bus}}.online">{{live["fc." + bus + ".online"]}}</strong></span>
    <span>failures <strong data-live="fc.{{bus}}.failures">{{live["fc." + bus + ".failures"]}}</strong></span>
    <span>restart <strong data-live="fc.{{bus}}.restart">{{live["fc." + bus + ".restart"]}}</strong></span>
    <span class="last-error">last error <strong data-live="fc.{{bus}}.error" id="error-{{bus}}">{{live["fc." + bus + ".error"]}}</strong></span>
    <button type="button" class="cbi-button cbi-button-action" data-test-bus="{{bus}}" id="test-{{bus}}">Test bus</button>
    <div class="test-box" data-test-box="{{bus}}">
% include("job.tpl", job_id="test-job-" + bus)
      <div class="test-result" id="test-result-{{bus}}" hidden></div>
    </div>
  </div>
% if notice:
  <div class="alert-message warning" id="notice">{{notice}}</div>
% end
% for p in problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}} (<a href="{{link(bus, p)}}">edit</a>)</div>
% end
  <div class="cbi-section" id="script">
    <h3>Script</h3>
    <p><strong>{{script["name"] or "none"}}</strong> ({{script["note"] or ("file " + str(script["rel"]) if script["rel"] else script["where"])}})
      <a class="cbi-button cbi-button-edit" href="/freeclient/bus/{{bus}}/script" id="edit-script">Edit script</a></p>
  </div>
% if not unreadable:
  <div class="cbi-section" id="devices">
    <h3>Devices</h3>
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">#</th><th class="th">Name</th><th class="th">Instance</th><th class="th">Enabled</th><th class="th">Points</th><th class="th">Tag</th><th class="th"></th></tr>
% for dv in devices:
      <tr class="tr" data-device="{{dv['index']}}">
        <td class="td" data-title="#">{{dv["index"]}}</td>
        <td class="td" data-title="Name"><a href="/freeclient/bus/{{bus}}/device/{{dv['index']}}" id="device-{{dv['index']}}"><strong>{{dv["name"]}}</strong></a></td>
        <td class="td" data-title="Instance">{{dv["instance"]}}</td>
        <td class="td" data-title="Enabled">{{"yes" if dv["enabled"] else "no"}}</td>
        <td class="td" data-title="Points">{{dv["points"]}}</td>
        <td class="td tag" data-title="Tag"><code>{{dv["tag"]}}</code></td>
        <td class="td actions">
          <form method="post" action="/freeclient/bus/{{bus}}/device/{{dv['index']}}/copy" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button" id="copy-device-{{dv['index']}}">Copy</button>
          </form>
          <form method="post" action="/freeclient/bus/{{bus}}/device/{{dv['index']}}/delete" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button cbi-button-negative" id="delete-device-{{dv['index']}}">Delete</button>
          </form>
        </td>
      </tr>
% end
    </table></div>
    <form method="post" action="/freeclient/bus/{{bus}}/devices/add">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-device">New device</label>
      <input type="text" id="new-device" name="device" required placeholder="meter1">
      <button type="submit" class="cbi-button cbi-button-add" id="add-device">Add</button>
    </form>
  </div>
% end
  <form method="post" action="/freeclient/bus/{{bus}}" class="cbi-section" id="bus-form">
    <h3>Section options</h3>
    <input type="hidden" name="csrf" value="{{csrf}}">
% include("fields.tpl", fields=fields)
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
    </div>
  </form>
  <div class="cbi-section" id="definition">
    <h3>Definition file {{definition}}</h3>
    <div class="cbi-section-descr">The bus in the original's export format; the section's options above win where set.</div>
% if unreadable:
    <div class="alert-message error" id="unreadable">{{unreadable}}</div>
% else:
    <form method="post" action="/freeclient/bus/{{bus}}/definition" id="definition-form">
      <input type="hidden" name="csrf" value="{{csrf}}">
% include("fields.tpl", fields=keys)
      <div class="cbi-page-actions">
        <button type="submit" class="cbi-button cbi-button-save" id="stage-definition">Save (staged)</button>
      </div>
    </form>
% end
  </div>
  <div class="cbi-section" id="bus-actions">
    <h3>The whole bus</h3>
% if copy_problem:
    <div class="alert-message error" id="copy-problem">{{copy_problem}}</div>
% end
    <form method="post" action="/freeclient/bus/{{bus}}/copy" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="copy-name">Copy as</label>
      <input type="text" id="copy-name" name="new" pattern="[A-Za-z0-9_]+" required placeholder="{{bus}}_2">
      <button type="submit" class="cbi-button" id="copy-bus">Copy (disabled)</button>
    </form>
    <a class="cbi-button" href="/freeclient/bus/{{bus}}/export" id="export-bus" download>Export bus file</a>
    <form method="post" action="/freeclient/bus/{{bus}}/delete" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-negative" id="delete-bus">Delete bus</button>
    </form>
  </div>
</div>
<script src="/static/freeclient.js" defer></script>
