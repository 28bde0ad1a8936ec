% # The inputs of a generated form: include with  % include("fields.tpl", fields=fields)
% # (each field as ports_edit.form_fields or freeclient.format_fields make it: option, kind, doc, choices, value ...)
% for f in fields:
    <div class="cbi-value{{' has-error' if f['problems'] else ''}}" id="field-{{f['option']}}">
      <label class="cbi-value-title" for="o.{{f['option']}}">{{f["option"]}}</label>
      <div class="cbi-value-field">
% if f["kind"] == "bool":
        <input type="checkbox" id="o.{{f['option']}}" name="o.{{f['option']}}" value="1" {{'checked' if f['value'] else ''}}>
% elif f["kind"] == "select":
%   labels = f.get("labels") or {}
        <select id="o.{{f['option']}}" name="o.{{f['option']}}">
% if not f["required"]:
          <option value="" {{'selected' if not f['set'] else ''}}>(default{{": " + str(labels.get(str(f['default']), f['default'])) if f['default'] != '' else ''}})</option>
% end
% for c in f["choices"]:
          <option value="{{c}}" {{'selected' if f['set'] and c == f['value'] else ''}}>{{labels.get(c, c)}}</option>
% end
        </select>
% elif f["kind"] == "list":
        <textarea id="o.{{f['option']}}" name="o.{{f['option']}}" rows="3">{{f["value"]}}</textarea>
% elif f["kind"] == "int":
        <input type="number" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{!('min="%d"' % f['min']) if f['min'] is not None else ''}} {{!('max="%d"' % f['max']) if f['max'] is not None else ''}} {{'required' if f['required'] else ''}}>
% else:
        <input type="text" id="o.{{f['option']}}" name="o.{{f['option']}}" value="{{f['value']}}" {{'required' if f['required'] else ''}}>
% end
% for p in f["problems"]:
        <div class="field-problem {{p.severity}}">{{p.message}}</div>
% end
        <div class="cbi-value-description">{{f["doc"]}}{{" (one a line)" if f["kind"] == "list" else ""}}</div>
      </div>
    </div>
% end
