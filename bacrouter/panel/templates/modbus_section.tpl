% rebase('base.tpl', **locals())
<div class="cbi-map" id="modbus-{{kind}}-page">
  <p class="crumbs"><a href="/modbus">Modbus</a> &rsaquo; {{kind}} {{section_name}}</p>
  <h2>Modbus {{kind}} {{section_name}}</h2>
  <div class="cbi-map-descr">{{doc}} Saving stages the edit; <a href="/changes">Save &amp; Apply</a> puts it into service.</div>
% if kind == "slave":
  <div class="cbi-section slave-links" id="slave-links">
    <a class="cbi-button cbi-button-action" href="/modbus/slaves/{{section_name}}/points" id="points-link">Points ({{len(points.items)}}){{" — %d error(s)" % point_errors if point_errors else ""}}</a>
    <a class="cbi-button cbi-button-action" href="/modbus/live/slaves/{{section_name}}" id="live-link">Live values &amp; Read Group</a>
  </div>
% else:
  <p class="cbi-section-descr" id="master-slaves">Slaves on this master: {{", ".join(slaves) or "none"}}.</p>
% end
% for p in section_problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}}</div>
% end
  <form method="post" action="{{action}}" class="cbi-section" id="section-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
% for f in fields:
    <div class="cbi-value{{' has-error' if f['problems'] else ''}}" id="field-{{f['option']}}"{{!' data-shown-when="%s"' % f['shown_when'] if f.get('shown_when') else ''}}>
      <label class="cbi-value-title" for="o.{{f['option']}}">{{f["option"]}}</label>
      <div class="cbi-value-field">
% if f["kind"] == "bool":
        <input type="checkbox" id="o.{{f['option']}}" name="o.{{f['option']}}" value="1" {{'checked' if f['value'] else ''}}>
% elif f["kind"] == "select":
        <select id="o.{{f['option']}}" name="o.{{f['option']}}">
% if not f["required"]:
          <option value="" {{'selected' if not f['set'] else ''}}>(default{{": " + str(f['default']) if f['default'] != '' else ''}})</option>
% end
% for c in f["choices"]:
          <option value="{{c}}" {{'selected' if f['set'] and c == f['value'] else ''}}>{{f.get("labels", {}).get(c, c)}}</option>
% end
        </select>
% elif f["kind"] == "int":
        <input type="number" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{!('min="%d"' % f['min']) if f['min'] is not None else ''}} {{!('max="%d"' % f['max']) if f['max'] is not None else ''}} {{'required' if f['required'] else ''}}>
% else:
        <input type="text" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{'required' if f['required'] else ''}}>
% end
% for p in f["problems"]:
        <div class="field-problem {{p.severity}}">{{p.message}}</div>
% end
        <div class="cbi-value-description">{{f["doc"]}} {{f.get("note", "")}}</div>
      </div>
    </div>
% end
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
      <a class="cbi-button" href="/modbus">Back</a>
    </div>
  </form>
</div>
<script src="/static/modbus.js" defer></script>
