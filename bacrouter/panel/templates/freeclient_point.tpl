% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-point-page">
  <p class="crumbs"><a href="/freeclient">Free Client</a> &rsaquo; <a href="/freeclient/bus/{{bus}}">bus {{bus}}</a> &rsaquo; <a href="/freeclient/bus/{{bus}}/device/{{d}}">device {{device_name}}</a> &rsaquo; point {{point_name}}</p>
  <h2>Point {{point_name}} of {{bus}} | {{device_name}}</h2>
  <div class="cbi-map-descr">Point {{n}} of device {{d}} in {{definition}}. Saving stages the edit; <a href="/changes">Save &amp; Apply</a> puts it into service.</div>
% for p in problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} section-problem">{{p.message}}</div>
% end
  <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/point/{{n}}" class="cbi-section" id="point-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
% include("fields.tpl", fields=fields)
    <div class="cbi-page-actions">
      <button type="submit" class="cbi-button cbi-button-save" id="stage">Save (staged)</button>
      <a class="cbi-button" href="/freeclient/bus/{{bus}}/device/{{d}}#points">Back</a>
    </div>
  </form>
  <div class="cbi-section">
    <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/point/{{n}}/copy" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button" id="copy-point">Copy point</button>
    </form>
    <form method="post" action="/freeclient/bus/{{bus}}/device/{{d}}/point/{{n}}/delete" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-negative" id="delete-point">Delete point</button>
    </form>
  </div>
</div>
