% rebase('base.tpl', **locals())
<div class="cbi-map" id="changes-page">
  <h2>Changes</h2>
  <div class="cbi-map-descr">Staged edits are checked like <code>bacrouter check</code> does; Save &amp; Apply writes them atomically and reloads the router, Revert throws them away.</div>
% if result:
  <div class="alert-message success" id="apply-result">
% if result.get("state") == "reloaded":
%   summary = result.get("summary") or {}
    <h4>Applied and reloaded</h4>
    <ul>
% for verb in ("started", "restarted", "stopped", "unchanged"):
      <li id="summary-{{verb}}"><strong>{{verb}}</strong>: {{", ".join(summary.get(verb) or []) or "none"}}</li>
% end
    </ul>
% elif result.get("state") == "not running":
    <h4>Applied</h4><p>The router is not running: it starts with this configuration.</p>
% elif result.get("state") == "refused":
    <h4>Written, but the router refused it</h4>
    <ul>
% for line in result.get("problems") or []:
      <li>{{line}}</li>
% end
    </ul>
% else:
    <h4>Applied</h4><p>{{result.get("state")}} {{result.get("message") or ""}}</p>
% end
  </div>
% end
  <div class="cbi-section" id="staged">
% if changes:
    <h3>{{len(changes)}} change(s) staged</h3>
    <ul id="change-list">
% for line in changes:
      <li>{{line}}</li>
% end
    </ul>
    <pre id="diff">{{diff}}</pre>
% else:
    <p id="no-changes">No changes staged.</p>
% end
  </div>
% if problems:
  <div class="cbi-section" id="problems">
    <h3>Problems</h3>
%   # errors first; a file with a warning on each of its 1,000 points would bury them (the editors show all)
%   SHOWN_PROBLEMS = 100
%   ordered = sorted(problems, key=lambda p: p.severity != "error")
%   shown = ordered[:SHOWN_PROBLEMS]
    <ul>
% for p in shown:
%   href = link(p)
      <li class="{{p.severity}}">{{p.severity}}: {{p.section}}{{" option " + p.option if p.option else ""}}: {{p.message}}
% if href:
        (<a href="{{href}}">edit</a>)
% end
      </li>
% end
% if len(ordered) > len(shown):
      <li class="more" id="more-problems">and {{len(ordered) - len(shown)}} more: each editor shows its own</li>
% end
    </ul>
  </div>
% end
% if changes:
  <div class="cbi-page-actions">
    <form method="post" action="/changes/apply" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-apply" id="apply">Save &amp; Apply</button>
    </form>
    <form method="post" action="/changes/revert" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-reset" id="revert">Revert</button>
    </form>
  </div>
% end
</div>
