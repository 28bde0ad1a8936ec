% rebase('base.tpl', **locals())
<div class="cbi-map" id="port-edit-page">
% if view == "list":
  <h2>Configure ports</h2>
  <div class="cbi-map-descr">Edits are staged: nothing reaches the router until <a href="/changes">Save &amp; Apply</a>.</div>
  <div class="cbi-section" id="configured-ports">
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Name</th><th class="th">Kind</th><th class="th">Network</th><th class="th">Resource</th><th class="th"></th></tr>
% for p in ports:
      <tr class="tr{{'' if p['enabled'] else ' disabled'}}" data-config-port="{{p['name']}}">
        <td class="td" data-title="Name"><strong>{{p["name"]}}</strong>{{" (disabled)" if not p["enabled"] else ""}}
% if p["errors"]:
          <span class="label important" title="Save &amp; Apply refuses until it is fixed">{{p["errors"]}} problem(s)</span>
% end
        </td>
        <td class="td" data-title="Kind">{{p["kind"]}}</td>
        <td class="td" data-title="Network">{{p["network"]}}</td>
        <td class="td" data-title="Resource">{{p["resource"]}}</td>
        <td class="td">
% if p["editable"]:
          <a class="cbi-button cbi-button-edit" href="/config/ports/{{p['name']}}" id="edit-{{p['name']}}">Edit</a>
          <form method="post" action="/config/ports/{{p['name']}}/delete" class="inline">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <button type="submit" class="cbi-button cbi-button-negative" id="delete-{{p['name']}}">Delete</button>
          </form>
% end
        </td>
      </tr>
% end
    </table></div>
  </div>
  <div class="cbi-section" id="add-port">
    <h3>Add a port</h3>
    <form method="post" action="/config/ports/add" class="add-port">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <label for="new-type">Kind</label>
      <select id="new-type" name="type">
% for key, label in kinds.items():
        <option value="{{key}}">{{label}}</option>
% end
      </select>
      <label for="new-name">Name</label>
      <input type="text" id="new-name" name="name" pattern="[A-Za-z0-9_]+" required placeholder="bip1">
      <button type="submit" class="cbi-button cbi-button-add" id="add">Add</button>
    </form>
    <p class="cbi-section-descr">A new port gets a free network number and an unused resource of its kind; its editor opens next.</p>
  </div>
% else:
  <h2>{{kind}} port {{port}}</h2>
  <div class="cbi-map-descr">{{doc}} Saving stages the edit; <a href="/changes">Save &amp; Apply</a> puts it into service.</div>
% for p in section_problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}}</div>
% end
  <form method="post" action="/config/ports/{{port}}" class="cbi-section" id="port-form" data-kind="{{type}}">
    <input type="hidden" name="csrf" value="{{csrf}}">
% for f in fields:
    <div class="cbi-value{{' has-error' if f['problems'] or any(r['problems'] for r in f.get('rows', [])) else ''}}" id="field-{{f['option']}}"{{!(' data-shown-when="%s"' % f['shown_when']) if f['shown_when'] else ''}}>
      <label class="cbi-value-title" for="o.{{f['option']}}">{{f["option"]}}</label>
      <div class="cbi-value-field">
% if f["kind"] == "bool":
        <input type="checkbox" id="o.{{f['option']}}" name="o.{{f['option']}}" value="1" {{'checked' if f['value'] else ''}}>
% elif f["kind"] == "select":
        <select id="o.{{f['option']}}" name="o.{{f['option']}}" data-default="{{f['default']}}">
% if not f["required"]:
          <option value="" {{'selected' if not f['set'] else ''}}>(default{{": " + str(f['default']) if f['default'] != '' else ''}})</option>
% end
% for c in f["choices"]:
          <option value="{{c}}" {{'selected' if f['set'] and c == f['value'] else ''}}>{{f["labels"].get(c, c)}}</option>
% end
        </select>
% elif f["kind"] == "list":
        <input type="hidden" name="l.{{f['option']}}" value="1">
        <div class="list-rows" data-list="{{f['option']}}">
% for i, r in enumerate(f["rows"] + [{"value": "", "problems": []}]):
          <div class="list-row{{' has-error' if r['problems'] else ''}}">
            <input type="text" name="o.{{f['option']}}" value="{{r['value']}}"{{!(' id="o.%s"' % f['option']) if i == 0 else ''}} aria-label="{{f['option']}} entry {{i + 1}}"{{!(' pattern="%s" title="%s"' % (f['pattern'], f['pattern_title'])) if f['pattern'] else ''}}{{!' placeholder="new entry"' if not r['value'] else ''}}>
            <button type="button" class="cbi-button cbi-button-remove" data-remove-row hidden title="Remove this entry">&#x2715;</button>
% for p in r["problems"]:
            <div class="field-problem {{p.severity}}">{{p.message}}</div>
% end
          </div>
% end
        </div>
        <button type="button" class="cbi-button cbi-button-add" data-add-row="{{f['option']}}" hidden>Add entry</button>
% elif f["kind"] == "int":
        <input type="number" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{!('min="%d"' % f['min']) if f['min'] is not None else ''}} {{!('max="%d"' % f['max']) if f['max'] is not None else ''}} {{'required' if f['required'] else ''}}>
% else:
        <input type="text" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{'required' if f['required'] else ''}}>
% end
% for p in f["problems"]:
        <div class="field-problem {{p.severity}}">{{p.message}}</div>
% end
% if f["note"]:
        <div class="field-problem warning">{{f["note"]}}</div>
% end
        <div class="cbi-value-description">{{f["doc"]}}{{" (one an entry; a blank entry is ignored)" if f["kind"] == "list" else ""}}</div>
      </div>
    </div>
% end
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
      <a class="cbi-button" href="/config/ports">Back</a>
    </div>
  </form>
  <script src="/static/port_edit.js" defer></script>
% end
</div>
