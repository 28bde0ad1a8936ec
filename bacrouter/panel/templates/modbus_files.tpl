% rebase('base.tpl', **locals())
<script src="/static/modbus_files.js" defer></script>
<div class="cbi-map" id="modbus-files">
  <h2>Modbus: files</h2>
  <div class="cbi-map-descr">Master files, slave files (the original's device files) and points as CSV. Exports and imports work on the configuration as staged{{" (there are staged edits)" if staged_edits else ""}}; an import shows what it does first, and only when you stage it does it go to <a href="/changes">Changes</a>, where Save &amp; Apply applies it. <a href="/modbus/live">Live values</a></div>
% if notice:
  <div class="alert-message success" id="notice">{{notice}} <a href="/changes" id="changes-link">Changes</a></div>
% end
% if problem:
  <div class="alert-message error" id="import-problem">{{problem}}</div>
% end
% if pending:
%   r = pending.report
  <div class="cbi-section" id="report">
    <h3>What the import of {{pending.source}} does</h3>
% if pending.kind == "csv":
    <p>Points of slave <strong>{{pending.target}}</strong>:</p>
    <table class="table cbi-section-table kv" id="report-points">
      <tr class="tr"><td class="td left">Added</td><td class="td left" id="report-added">{{", ".join(r.get("added") or []) or "none"}}</td></tr>
      <tr class="tr"><td class="td left">Changed</td><td class="td left" id="report-changed">{{", ".join(r.get("changed") or []) or "none"}}</td></tr>
      <tr class="tr"><td class="td left">Removed</td><td class="td left" id="report-removed">{{", ".join(r.get("removed") or []) or "none"}}</td></tr>
      <tr class="tr"><td class="td left">Unchanged</td><td class="td left">{{r.get("unchanged", 0)}}</td></tr>
    </table>
% else:
    <div class="table-wrap"><table class="table cbi-section-table" id="report-added">
      <tr class="tr table-titles"><th class="th">Added</th><th class="th">Name</th><th class="th right">Points</th><th class="th">State</th></tr>
% for a in r.get("added") or []:
%   why = [d["reason"] for d in r.get("disabled") or [] if d["name"] == a["name"] and d["type"] == a["type"]]
      <tr class="tr {{'added-disabled' if not a['enabled'] else 'added-enabled'}}" data-added="{{a['name']}}">
        <td class="td" data-title="Added">{{a["type"]}}</td>
        <td class="td" data-title="Name"><strong>{{a["name"]}}</strong></td>
        <td class="td right" data-title="Points">{{a.get("points", "")}}</td>
        <td class="td" data-title="State">{{"enabled" if a["enabled"] else "DISABLED"}}{{": " + "; ".join(why) if why else ""}}</td>
      </tr>
% end
    </table></div>
% if r.get("disabled"):
    <h4>Disabled, and why</h4>
    <ul id="report-disabled">
% for d in r["disabled"]:
      <li><strong>{{d["type"]}} '{{d["name"]}}'</strong> ({{d["rule"]}}): {{d["reason"]}}</li>
% end
    </ul>
% end
% if r.get("renamed"):
    <h4>Renamed (the name is taken)</h4>
    <ul id="report-renamed">
% for d in r["renamed"]:
      <li>{{d["type"]}} '{{d["from"]}}' → '{{d["to"]}}'</li>
% end
    </ul>
% end
% if r.get("defaulted"):
    <h4>Settings that do not apply here</h4>
    <ul id="report-defaulted">
% for d in r["defaulted"]:
      <li>{{d["type"]}} '{{d["name"]}}' option '{{d["option"]}}' {{"left at " + repr(d["value"]) if d["value"] is not None else "dropped"}}: {{d["reason"]}}</li>
% end
    </ul>
% end
% end
% if r.get("warnings"):
    <ul id="report-warnings">
% for w in r["warnings"]:
      <li class="warning">{{w}}</li>
% end
    </ul>
% end
% if pending.ok:
    <p class="files">Files it writes: {{", ".join(r.get("files") or []) or "none"}}</p>
    <div class="cbi-page-actions">
      <form method="post" action="/modbus/files/stage" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="token" value="{{pending.token}}">
        <button type="submit" class="cbi-button cbi-button-apply" id="stage-import">Stage this import</button>
      </form>
      <form method="post" action="/modbus/files/discard" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" class="cbi-button cbi-button-reset" id="discard-import">Discard</button>
      </form>
    </div>
% else:
    <div class="alert-message error" id="report-errors">
      <h4>Not imported: nothing changes</h4>
      <ul>
% for e in r.get("errors") or []:
        <li>{{e}}</li>
% end
% for p in r.get("problems") or []:
        <li>{{pending.source}}: row {{p["row"]}}{{(" column '" + p["column"] + "'") if p["column"] else ""}}: {{p["message"]}}</li>
% end
      </ul>
    </div>
% end
  </div>
% end

  <div class="cbi-section" id="export">
    <h3>Export</h3>
% if not masters:
    <p>No Modbus master is configured.</p>
% end
% for m in masters:
    <div class="export-master" id="master-{{m['name']}}">
      <h4>Master {{m["name"]}} <small>{{m["protocol"]}}</small> <a class="cbi-button" href="/modbus/files/masters/{{m['name']}}.json" download id="export-master-{{m['name']}}">Master file</a></h4>
      <div class="table-wrap"><table class="table cbi-section-table">
% for s in slaves:
%   if s["master"] == m["name"]:
        <tr class="tr" id="slave-{{s['name']}}">
          <td class="td" data-title="Slave"><strong>{{s["name"]}}</strong></td>
          <td class="td right" data-title="Export">
            <a class="cbi-button" href="/modbus/files/slaves/{{s['name']}}.json" download id="export-slave-{{s['name']}}">Slave file</a>
            <a class="cbi-button" href="/modbus/files/slaves/{{s['name']}}.csv" download id="export-csv-{{s['name']}}">Points CSV</a>
            <a class="cbi-button" href="/modbus/live/slaves/{{s['name']}}">Live</a>
          </td>
        </tr>
%   end
% end
      </table></div>
    </div>
% end
  </div>

  <div class="cbi-section" id="import">
    <h3>Import</h3>
    <form method="post" action="/modbus/files/import" enctype="multipart/form-data" id="import-device-form" class="upload">
      <h4>A master file or a slave file</h4>
      <p class="cbi-section-descr">A master file brings its master and slaves; a slave file (the original's device file) goes on the master you choose. A slave that collides with the configuration (instances, names, station) is added disabled, and the report says why.</p>
      <input type="hidden" name="csrf" value="{{csrf}}">
      <input type="hidden" name="kind" value="device">
      <div class="cbi-value"><label class="cbi-value-title" for="device-file">File</label>
        <div class="cbi-value-field"><input type="file" name="file" id="device-file" accept=".json,application/json"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="device-master">Master (for a slave file)</label>
        <div class="cbi-value-field"><select name="master" id="device-master">
% for m in masters:
          <option value="{{m['name']}}">{{m["name"]}}</option>
% end
        </select></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="device-name">Name (optional)</label>
        <div class="cbi-value-field"><input type="text" name="name" id="device-name" placeholder="the file's name" pattern="[A-Za-z0-9_]+"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-action" id="import-device">Check the file</button></div>
% include("job.tpl", job_id="import-device-progress")
    </form>
    <form method="post" action="/modbus/files/import" enctype="multipart/form-data" id="import-csv-form" class="upload">
      <h4>Points as CSV</h4>
      <p class="cbi-section-descr">One row per point, a header row naming the keys (as exported; Excel's <code>;</code> works too). The rows replace the slave's points, or with Merge only those with the same object type and instance.</p>
      <input type="hidden" name="csrf" value="{{csrf}}">
      <input type="hidden" name="kind" value="csv">
      <div class="cbi-value"><label class="cbi-value-title" for="csv-file">File</label>
        <div class="cbi-value-field"><input type="file" name="file" id="csv-file" accept=".csv,text/csv"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="csv-slave">Slave</label>
        <div class="cbi-value-field"><select name="slave" id="csv-slave">
% for s in slaves:
          <option value="{{s['name']}}">{{s["name"]}}</option>
% end
        </select></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="csv-merge">Merge</label>
        <div class="cbi-value-field"><input type="checkbox" name="merge" id="csv-merge"> keep the points the file does not have</div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-action" id="import-csv">Check the file</button></div>
% include("job.tpl", job_id="import-csv-progress")
    </form>
  </div>
</div>
