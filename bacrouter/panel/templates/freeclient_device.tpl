% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-device-page">
  <p class="crumbs"><a href="/freeclient">Free Client</a> &rsaquo; <a href="/freeclient/bus/{{bus}}">bus {{bus}}</a> &rsaquo; device {{d}} {{device_name}}</p>
  <h2>Device {{device_name}} on bus {{bus}}</h2>
  <div class="cbi-map-descr">Device {{d}} of {{definition}}. Saving stages the edit; <a href="/changes">Save &amp; Apply</a> puts it into service.</div>
% if notice:
  <div class="alert-message warning" id="notice">{{notice}}</div>
% end
% for p in problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}}</div>
% end
  <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}" class="cbi-section" id="device-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
% include("fields.tpl", fields=fields)
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
      <a class="cbi-button" href="/freeclient/bus/{{bus}}#devices">Back</a>
    </div>
  </form>
  <div class="cbi-section" id="points">
    <h3>Points</h3>
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">#</th><th class="th">Name</th><th class="th">Object</th><th class="th">Instance</th><th class="th">Enabled</th><th class="th">Unit</th><th class="th">Tag</th><th class="th"></th></tr>
% for p in points:
      <tr class="tr" data-point="{{p['index']}}">
        <td class="td" data-title="#">{{p["index"]}}</td>
        <td class="td" data-title="Name"><a href="/freeclient/bus/{{bus}}/device/{{d}}/point/{{p['index']}}" id="point-{{p['index']}}"><strong>{{p["name"]}}</strong></a></td>
        <td class="td" data-title="Object">{{p["object_type"]}}{{" (read-only)" if p["read_only"] else ""}}</td>
        <td class="td" data-title="Instance">{{p["instance"]}}</td>
        <td class="td" data-title="Enabled">{{"yes" if p["enabled"] else "no"}}</td>
        <td class="td" data-title="Unit">{{p["unit"]}}</td>
        <td class="td tag" data-title="Tag"><code id="tag-{{p['index']}}">{{p["tag"]}}</code></td>
        <td class="td actions">
          <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/point/{{p['index']}}/copy" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button" id="copy-point-{{p['index']}}">Copy</button>
          </form>
          <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/point/{{p['index']}}/delete" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button cbi-button-negative" id="delete-point-{{p['index']}}">Delete</button>
          </form>
        </td>
      </tr>
% end
    </table></div>
    <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/points/add">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-point">New point</label>
      <input type="text" id="new-point" name="point" required placeholder="temperature">
      <select id="new-point-type" name="object_type">
% for code, label in object_types.items():
        <option value="{{code}}">{{code}}: {{label}}</option>
% end
      </select>
      <button type="submit" class="cbi-button cbi-button-add" id="add-point">Add</button>
    </form>
  </div>
  <div class="cbi-section">
    <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/copy" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button" id="copy-device">Copy device</button>
    </form>
    <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/delete" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-negative" id="delete-device">Delete device</button>
    </form>
  </div>
</div>
