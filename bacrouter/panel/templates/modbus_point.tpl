% rebase('base.tpl', **locals())
<div class="cbi-map" id="modbus-point-page">
  <p class="crumbs"><a href="/modbus">Modbus</a> &rsaquo; <a href="/modbus/slaves/{{slave}}">slave {{slave}}</a> &rsaquo; <a href="/modbus/slaves/{{slave}}/points#point-{{number}}" id="back-to-points">points</a> &rsaquo; {{number}}</p>
  <h2>Point {{number}} of {{count}}: {{point_name or "(no name)"}}</h2>
  <div class="cbi-map-descr">Every key of the point in the device-config format; an empty field leaves the key out (its default applies). Saving stages the edit; <a href="/changes">Save &amp; Apply</a> checks it.</div>
  <p class="point-nav">
% if number > 1:
    <a href="/modbus/slaves/{{slave}}/points/{{number - 1}}" id="previous-point">&lsaquo; point {{number - 1}}</a>
% end
% if number < count:
    <a href="/modbus/slaves/{{slave}}/points/{{number + 1}}" id="next-point">point {{number + 1}} &rsaquo;</a>
% end
  </p>
% for p in point_problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}}</div>
% end
% if not editable:
  <div class="alert-message warning">The points file is outside the data directory: the panel shows it, but does not edit it.</div>
% end
  <form method="post" action="/modbus/slaves/{{slave}}/points/{{number}}" class="cbi-section" id="point-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="digest" value="{{digest}}">
% for f in fields:
    <div class="cbi-value{{' has-error' if f['problems'] else ''}}" id="field-{{f['key']}}">
      <label class="cbi-value-title" for="k.{{f['key']}}">{{f["key"]}}</label>
      <div class="cbi-value-field">
% if f["kind"] == "bool":
        <input type="hidden" name="has.{{f['key']}}" value="1">
        <input type="checkbox" id="k.{{f['key']}}" name="k.{{f['key']}}" value="1" {{'checked' if f['value'] else ''}}>
% elif f["kind"] == "choice":
        <select id="k.{{f['key']}}" name="k.{{f['key']}}">
% if f["value"] not in f["choices"]:
          <option value="{{f['value']}}" selected>{{f["value"] or "(none)"}}</option>
% end
% for c in f["choices"]:
          <option value="{{c}}" {{'selected' if c == f['value'] else ''}}>{{c}}</option>
% end
        </select>
% elif f["kind"] in ("texts", "ints"):
        <textarea id="k.{{f['key']}}" name="k.{{f['key']}}" rows="3">{{f["value"]}}</textarea>
% elif f["kind"] == "int" and (f["value"] == "" or f["value"].lstrip("-").isdigit()):
        <input type="number" id="k.{{f['key']}}" name="k.{{f['key']}}" value="{{f['value']}}" step="1" {{!('min="%d"' % f['min']) if f['min'] is not None else ''}} {{!('max="%d"' % f['max']) if f['max'] is not None else ''}} placeholder="{{f['default']}}">
% else:
        <input type="text" id="k.{{f['key']}}" name="k.{{f['key']}}" value="{{f['value']}}" {{'required' if f['required'] else ''}} placeholder="{{f['default']}}" {{!('list="list-%s"' % f['key']) if f['suggestions'] else ''}} {{!'inputmode="decimal"' if f['kind'] == 'number' else ''}}>
% if f["suggestions"]:
        <datalist id="list-{{f['key']}}">
% for s in f["suggestions"]:
          <option value="{{s}}"></option>
% end
        </datalist>
% end
% end
% for p in f["problems"]:
        <div class="field-problem {{p.severity}}">{{p.message}}</div>
% end
        <div class="cbi-value-description">{{f["doc"]}}{{" (default: %s)" % f["default"] if f["default"] not in ("", None) and f["kind"] != "bool" else ""}}</div>
      </div>
    </div>
% end
% if others:
    <div class="cbi-value" id="other-keys">
      <span class="cbi-value-title">other keys</span>
      <div class="cbi-value-field">
% for k, v in others.items():
        <div><code>{{k}}</code>: <code>{{v}}</code></div>
% end
        <div class="cbi-value-description">keys the format does not know (a vendor tool's): kept as they are</div>
      </div>
    </div>
% end
% if editable:
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
      <a class="cbi-button" href="/modbus/slaves/{{slave}}/points#point-{{number}}">Back</a>
    </div>
% end
  </form>
% if editable:
  <div class="cbi-page-actions point-actions">
    <form method="post" action="/modbus/slaves/{{slave}}/points/{{number}}/copy" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="digest" value="{{digest}}">
      <button type="submit" class="cbi-button cbi-button-add" id="copy-point">Copy this point</button>
    </form>
    <form method="post" action="/modbus/slaves/{{slave}}/points/{{number}}/delete" class="inline" data-confirm="Delete point {{number}} ({{point_name}})? (staged)">
      <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="digest" value="{{digest}}">
      <button type="submit" class="cbi-button cbi-button-negative" id="delete-point">Delete this point</button>
    </form>
  </div>
% end
</div>
<script src="/static/modbus.js" defer></script>
