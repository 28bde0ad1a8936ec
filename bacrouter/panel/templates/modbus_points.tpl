% rebase('base.tpl', **locals())
<div class="cbi-map" id="modbus-points-page">
  <p class="crumbs"><a href="/modbus">Modbus</a> &rsaquo; <a href="/modbus/slaves/{{slave}}">slave {{slave}}</a> &rsaquo; points</p>
  <h2>Points of {{slave}}</h2>
  <div class="cbi-map-descr">{{len(points.items)}} point(s) in <code>{{points.path}}</code> (the original's device-config format). Edits are staged; <a href="/changes">Save &amp; Apply</a> checks them and puts them into service. <a href="/modbus/live/slaves/{{slave}}">Live values &amp; Read Group</a></div>
% if points.error:
  <div class="alert-message {{'warning' if points.missing else 'error'}}" id="points-error">{{points.error}}</div>
% end
% if points.rel is None:
  <div class="alert-message warning" id="points-outside">This file is outside the data directory: the panel shows it, but does not edit it.</div>
% end
% for p in file_problems:
  <div class="alert-message {{'error' if p.severity == 'error' else 'warning'}} file-problem">{{p.message}}</div>
% end
  <div class="cbi-section points-tools">
    <form method="get" action="/modbus/slaves/{{slave}}/points" class="inline" id="filter-form" role="search">
      <input type="search" id="filter" name="q" value="{{query}}" placeholder="Filter: name, type, register, description" aria-label="filter">
      <button type="submit" class="cbi-button cbi-button-neutral" id="filter-button">Filter</button>
    </form>
% if editable:
    <form method="post" action="/modbus/slaves/{{slave}}/points/add" class="inline" id="add-point">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <select name="object_type" aria-label="object type" id="new-point-type">
% for t in ("ai", "ao", "av", "bi", "bo", "bv", "mi", "mo", "mv"):
        <option value="{{t}}">{{t}}</option>
% end
      </select>
      <button type="submit" class="cbi-button cbi-button-add" id="add-point-button">Add point</button>
    </form>
% end
  </div>
% if query:
  <p id="filter-note">{{matching}} of {{len(points.items)}} point(s) match “{{query}}”. <a href="/modbus/slaves/{{slave}}/points">Show all</a></p>
% end
  <form method="post" action="/modbus/slaves/{{slave}}/points/selected" id="points-form" class="cbi-section">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="digest" value="{{points.digest}}">
    <div class="table-wrap"><table class="table cbi-section-table points" id="points">
      <tr class="tr table-titles"><th class="th"><input type="checkbox" id="select-all" aria-label="select all shown" hidden></th><th class="th right">#</th><th class="th">Name</th><th class="th">Object</th><th class="th">Register</th><th class="th">Data type</th><th class="th right">Scale</th><th class="th">Unit</th><th class="th">Enabled</th><th class="th">Description</th></tr>
% for r in rows:
      <tr class="tr{{' has-error' if r['errors'] else ' has-warning' if r['warnings'] else ''}}" id="point-{{r['number']}}"><td class="td"><input type="checkbox" name="sel" value="{{r['number']}}" aria-label="select {{r['name']}}"></td><td class="td right" data-title="#">{{r["number"]}}</td><td class="td" data-title="Name"><a href="/modbus/slaves/{{slave}}/points/{{r['number']}}">{{r["name"] or "(no name)"}}</a>
%   for m in r["errors"]:
        <div class="field-problem">{{m}}</div>
%   end
%   for m in r["warnings"]:
        <div class="field-problem warning">{{m}}</div>
%   end
      </td><td class="td" data-title="Object">{{r["object"]}}</td><td class="td" data-title="Register">{{r["register"]}}</td><td class="td" data-title="Data type">{{r["data_type"]}}</td><td class="td right" data-title="Scale">{{r["scale"]}}</td><td class="td" data-title="Unit">{{r["unit"]}}</td><td class="td" data-title="Enabled">{{"yes" if r["enabled"] else "no"}}</td><td class="td" data-title="Description">{{r["description"]}}</td></tr>
% end
    </table></div>
% if not rows:
    <p id="no-points">{{"No point matches." if query else "No points yet."}}</p>
% end
% if matching > page:
    <p class="pages" id="pages">Points {{offset + 1}}..{{min(offset + page, matching)}} of {{matching}}:
% for start in range(0, matching, page):
      <a href="?offset={{start}}{{'&q=' + quote(query) if query else ''}}" class="{{'active' if start == offset else ''}}">{{start + 1}}..{{min(start + page, matching)}}</a>
% end
    </p>
% end
% if editable and rows:
    <div class="cbi-page-actions">
      <button type="submit" name="action" value="copy" class="cbi-button cbi-button-add" id="copy-selected">Copy selected</button>
      <button type="submit" name="action" value="delete" class="cbi-button cbi-button-negative" id="delete-selected">Delete selected</button>
    </div>
% end
  </form>
</div>
<script src="/static/modbus.js" defer></script>
