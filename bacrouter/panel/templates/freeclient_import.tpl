% rebase('base.tpl', **locals())
<div class="cbi-map" id="freeclient-import-page">
  <p class="crumbs"><a href="/freeclient">Free Client</a> &rsaquo; import</p>
  <h2>Import of {{source}}</h2>
% if report.errors:
  <div class="alert-message error" id="import-errors"><h4>Not imported</h4>
    <ul>
% for line in report.errors:
      <li>{{line}}</li>
% end
    </ul>
  </div>
% else:
  <div class="cbi-section" id="import-report">
    <h3>What the import adds</h3>
    <ul>
% for e in report.added:
      <li class="added">{{e["type"]}} '{{e["name"]}}'{{" with %d point(s)" % e["points"] if "points" in e else ""}}{{"" if e["enabled"] else " DISABLED"}}</li>
% end
    </ul>
% if report.disabled:
    <h3>Imported disabled (collisions)</h3>
    <ul id="import-collisions">
% for e in report.disabled:
      <li class="disabled">{{e["type"]}} '{{e["name"]}}' disabled ({{e["rule"]}}): {{e["reason"]}}</li>
% end
    </ul>
% end
% if report.defaulted:
    <h3>Settings dropped</h3>
    <ul>
% for e in report.defaulted:
      <li>{{e["type"]}} '{{e["name"]}}' {{e["option"]}}: {{e["reason"]}}</li>
% end
    </ul>
% end
% if report.warnings:
    <h3>Warnings</h3>
    <ul>
% for line in report.warnings:
      <li class="warning">{{line}}</li>
% end
    </ul>
% end
  </div>
% end
  <div class="cbi-page-actions">
% if token:
    <form method="post" action="/freeclient/import/stage" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <input type="hidden" name="token" value="{{token}}">
      <button type="submit" class="cbi-button cbi-button-apply" id="stage-import">Stage the import</button>
    </form>
% end
    <a class="cbi-button" href="/freeclient" id="import-back">{{"Cancel" if token else "Back"}}</a>
  </div>
</div>
