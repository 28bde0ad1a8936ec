% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-page">
  <h2>Free Client</h2>
  <div class="cbi-map-descr">Lua scripts speaking a protocol on an RS485 line or to a TCP server. Edits are staged: nothing reaches the router until <a href="/changes">Save &amp; Apply</a>.</div>
% if notice:
  <div class="alert-message warning" id="notice">{{notice}}</div>
% end
  <div class="cbi-section" id="buses">
    <h3>Buses</h3>
% if buses:
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Bus</th><th class="th">Line</th><th class="th">Script</th><th class="th">Devices</th><th class="th">State</th><th class="th">Online</th><th class="th">Last error</th><th class="th">Failures</th><th class="th">Restart</th><th class="th"></th></tr>
% for b in buses:
%   n = b["name"]
      <tr class="tr" data-bus="{{n}}">
        <td class="td" data-title="Bus"><a href="/freeclient/bus/{{n}}" id="edit-{{n}}"><strong>{{n}}</strong></a>{{"" if b["enabled"] else " (disabled)"}}</td>
        <td class="td" data-title="Line">{{b["kind"]}} {{b["line"]}}</td>
        <td class="td" data-title="Script">{{b["script"]}}</td>
        <td class="td" data-title="Devices">{{b["devices"]}} ({{b["points"]}} points){{" - " + b["problem"] if b["problem"] else ""}}</td>
        <td class="td" data-title="State"><span class="state" data-live="fc.{{n}}.state" id="state-{{n}}">{{live["fc." + n + ".state"]}}</span></td>
        <td class="td" data-title="Online" data-live="fc.{{n}}.online">{{live["fc." + n + ".online"]}}</td>
        <td class="td last-error" data-title="Last error" data-live="fc.{{n}}.error" id="error-{{n}}">{{live["fc." + n + ".error"]}}</td>
        <td class="td right" data-title="Failures" data-live="fc.{{n}}.failures">{{live["fc." + n + ".failures"]}}</td>
        <td class="td" data-title="Restart" data-live="fc.{{n}}.restart">{{live["fc." + n + ".restart"]}}</td>
        <td class="td actions">
          <a class="cbi-button cbi-button-edit" href="/freeclient/bus/{{n}}">Edit</a>
          <button type="button" class="cbi-button cbi-button-action" data-test-bus="{{n}}" id="test-{{n}}">Test bus</button>
          <form method="post" action="/freeclient/bus/{{n}}/delete" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button cbi-button-negative" id="delete-{{n}}">Delete</button>
          </form>
        </td>
      </tr>
% end
    </table></div>
% for b in buses:
    <div class="test-box" data-test-box="{{b['name']}}">
% include("job.tpl", job_id="test-job-" + b["name"])
      <div class="test-result" id="test-result-{{b['name']}}" hidden></div>
    </div>
% end
% else:
    <p id="no-buses">No Free Client bus yet: add one or import a bus file below.</p>
% end
  </div>

  <div class="cbi-section" id="add-bus">
    <h3>Add a bus</h3>
% if add_problem:
    <div class="alert-message error" id="add-problem">{{add_problem}}</div>
% end
    <form method="post" action="/freeclient/add" class="stacked">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-name">Name</label>
      <input type="text" id="new-name" name="name" pattern="[A-Za-z0-9_]+" required placeholder="meters">
      <label for="new-kind">Line</label>
      <select id="new-kind" name="kind"><option value="rs485">RS485 (resource)</option><option value="tcp">TCP (server)</option></select>
      <label for="new-resource">Resource</label>
      <select id="new-resource" name="resource">
% for r in resources:
        <option value="{{r}}">{{r}}</option>
% end
      </select>
      <label for="new-server">Server</label>
      <input type="text" id="new-server" name="server" placeholder="192.0.2.10:502">
      <label for="new-script">Script</label>
      <select id="new-script" name="script">
% for s in scripts:
        <option value="{{s}}">{{s}} (shipped)</option>
% end
        <option value="">none yet: write one</option>
      </select>
      <button type="submit" class="cbi-button cbi-button-add" id="add-bus-button">Add</button>
    </form>
  </div>

  <div class="cbi-section" id="import">
    <h3>Import a bus file</h3>
    <div class="cbi-section-descr">A bus exported by the original product or by bacrouter (its script inside). Devices that collide with what is configured are imported disabled; the report is shown before anything is staged.</div>
% if import_problem:
    <div class="alert-message error" id="import-problem">{{import_problem}}</div>
% end
    <form method="post" action="/freeclient/import" enctype="multipart/form-data" class="stacked">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="import-file">Bus file</label>
      <input type="file" id="import-file" name="file" accept=".json,application/json" required>
      <label for="import-name">Name</label>
      <input type="text" id="import-name" name="name" pattern="[A-Za-z0-9_]*" placeholder="(the file's)">
      <label for="import-resource">As RS485 on</label>
      <select id="import-resource" name="resource"><option value="">(the file's)</option>
% for r in resources:
        <option value="{{r}}">{{r}}</option>
% end
      </select>
      <label for="import-server">As TCP to</label>
      <input type="text" id="import-server" name="server" placeholder="(the file's)">
      <button type="submit" class="cbi-button cbi-button-apply" id="import-button">Check the import</button>
    </form>
  </div>

  <div class="cbi-section" id="conversions">
    <h3>Conversion scripts</h3>
    <div class="cbi-section-descr">Lua data conversions for Modbus points (data type oNAME): conversions/NAME.lua in the data directory adds one or replaces the shipped one of that name.</div>
    <ul class="conversion-list">
% for c in conversions:
      <li><a href="/freeclient/conversion/{{c['name']}}" id="conversion-{{c['name']}}">{{c["name"]}}</a> {{"(yours" + (", replacing the shipped one)" if c["shipped"] else ")") if c["user"] else "(shipped)"}}</li>
% end
    </ul>
    <form method="post" action="/freeclient/conversions/add">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-conversion">New conversion</label>
      <input type="text" id="new-conversion" name="name" pattern="[A-Za-z0-9_]+" required placeholder="scaled">
      <button type="submit" class="cbi-button cbi-button-add" id="add-conversion">Write it</button>
    </form>
  </div>
</div>
<script src="/static/freeclient.js" defer></script>
