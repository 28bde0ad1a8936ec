% rebase('base.tpl', **locals())
<div class="cbi-map" id="modbus-page">
  <h2>Modbus</h2>
  <div class="cbi-map-descr">Masters (a line or a TCP server) and the slaves on them. Edits are staged: nothing reaches the router until <a href="/changes">Save &amp; Apply</a>. <a href="/modbus/files" id="files-link">Import / export</a> of master and slave files and CSV.</div>
  <div class="cbi-section" id="masters">
    <h3>Masters</h3>
% if not masters:
    <p class="cbi-section-descr" id="no-masters">No Modbus master yet: add one below.</p>
% else:
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Name</th><th class="th">Protocol</th><th class="th">Resource / host</th><th class="th">Enabled</th><th class="th right">Slaves</th><th class="th"></th></tr>
% for m in masters:
      <tr class="tr" data-master="{{m['name']}}">
        <td class="td" data-title="Name"><a href="/modbus/masters/{{m['name']}}" id="edit-master-{{m['name']}}"><strong>{{m["name"]}}</strong></a>{{!' <span class="label important">%d error(s)</span>' % m['errors'] if m['errors'] else ''}}</td>
        <td class="td" data-title="Protocol">{{m["protocol"]}}</td>
        <td class="td" data-title="Resource / host">{{m["where"]}}</td>
        <td class="td" data-title="Enabled">{{"yes" if m["enabled"] else "no"}}</td>
        <td class="td right" data-title="Slaves">{{m["slaves"]}}</td>
        <td class="td actions">
          <form method="post" action="/modbus/masters/{{m['name']}}/copy" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="cbi-button cbi-button-add" id="copy-master-{{m['name']}}">Copy</button></form>
          <form method="post" action="/modbus/masters/{{m['name']}}/delete" class="inline" data-confirm="Delete master {{m['name']}}{{' and its %d slave(s) with their points' % m['slaves'] if m['slaves'] else ''}}? (staged)"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="cbi-button cbi-button-negative" id="delete-master-{{m['name']}}">Delete</button></form>
        </td>
      </tr>
% end
    </table></div>
% end
    <form method="post" action="/modbus/masters/add" class="add-row" id="add-master">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-master">New master</label>
      <input type="text" id="new-master" name="name" pattern="[A-Za-z0-9_]+" required placeholder="line1">
      <select name="protocol" id="new-master-protocol" aria-label="protocol">
% for p in protocols:
        <option value="{{p}}" {{'selected' if p == 'tcp' else ''}}>{{p}}</option>
% end
      </select>
      <button type="submit" class="cbi-button cbi-button-add" id="add-master-button">Add master</button>
    </form>
  </div>
  <div class="cbi-section" id="slaves">
    <h3>Slaves</h3>
% if not slaves:
    <p class="cbi-section-descr" id="no-slaves">No Modbus slave yet{{": add a master first" if not masters else ""}}.</p>
% else:
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Name</th><th class="th">Master</th><th class="th">Protocol</th><th class="th">Resource / host</th><th class="th">Enabled</th><th class="th right">Station</th><th class="th right">Points</th><th class="th">Description</th><th class="th"></th></tr>
% for s in slaves:
      <tr class="tr" data-slave="{{s['name']}}">
        <td class="td" data-title="Name"><a href="/modbus/slaves/{{s['name']}}" id="edit-slave-{{s['name']}}"><strong>{{s["name"]}}</strong></a>{{!' <span class="label important">%d error(s)</span>' % s['errors'] if s['errors'] else ''}}</td>
        <td class="td" data-title="Master">{{s["master"]}}</td>
        <td class="td" data-title="Protocol">{{s["protocol"]}}</td>
        <td class="td" data-title="Resource / host">{{s["where"]}}</td>
        <td class="td" data-title="Enabled">{{"yes" if s["enabled"] else "no"}}</td>
        <td class="td right" data-title="Station">{{s["station"]}}</td>
        <td class="td right" data-title="Points"><a href="/modbus/slaves/{{s['name']}}/points">{{s["points"]}}</a></td>
        <td class="td" data-title="Description">{{s["description"]}}</td>
        <td class="td actions">
          <form method="post" action="/modbus/slaves/{{s['name']}}/copy" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="cbi-button cbi-button-add" id="copy-slave-{{s['name']}}">Copy</button></form>
          <form method="post" action="/modbus/slaves/{{s['name']}}/delete" class="inline" data-confirm="Delete slave {{s['name']}} and its points? (staged)"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="cbi-button cbi-button-negative" id="delete-slave-{{s['name']}}">Delete</button></form>
        </td>
      </tr>
% end
    </table></div>
% end
% if masters:
    <form method="post" action="/modbus/slaves/add" class="add-row" id="add-slave">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-slave">New slave</label>
      <input type="text" id="new-slave" name="name" pattern="[A-Za-z0-9_]+" required placeholder="meter1">
      <select name="master" id="new-slave-master" aria-label="master">
% for m in masters:
        <option value="{{m['name']}}">on {{m["name"]}}</option>
% end
      </select>
      <button type="submit" class="cbi-button cbi-button-add" id="add-slave-button">Add slave</button>
    </form>
% end
  </div>
</div>
<script src="/static/modbus.js" defer></script>
