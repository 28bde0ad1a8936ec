% rebase('base.tpl', **locals())
<div class="cbi-map" id="routes-page">
  <h2>Routing table</h2>
% if routes:
  <div class="cbi-map-descr" id="route-summary">{{routes["total"]}} network(s): {{routes["direct"]}} direct, {{routes["learned"]}} learned (at most {{routes["max_learned"]}}).</div>
% end
% if not offline:
  <form method="post" action="/routes/who-is-router" class="cbi-section who-is-router" id="who-is-router-form">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <input type="hidden" name="offset" value="{{offset}}">
    <input type="hidden" name="limit" value="{{limit}}">
    <button type="submit" class="cbi-button cbi-button-action" id="who-is-router">Who is router</button>
    <span class="cbi-section-descr">asks every port's routers which networks they reach (Who-Is-Router-To-Network) and shows what was learned.</span>
    <div id="who-is-router-result" class="alert-message info{{'' if get('who') else ' empty'}}" role="status">{{get("who") or ""}}</div>
  </form>
% end
% if routes:
  <div class="cbi-section">
    <div class="table-wrap"><table class="table cbi-section-table" id="route-table">
      <tr class="tr table-titles"><th class="th right">Network</th><th class="th">Port</th><th class="th">Next hop</th><th class="th">Status</th></tr>
% for r in routes["routes"]:
      <tr class="tr"><td class="td right" data-title="Network">{{r["network"]}}</td><td class="td" data-title="Port">{{r["port"]}}</td><td class="td" data-title="Next hop">{{hop(r.get("next_hop"))}}</td><td class="td" data-title="Status">{{r["status"]}}</td></tr>
% end
    </table></div>
  </div>
% if offset > 0 or offset + len(routes["routes"]) < routes["total"]:
  <div class="cbi-page-actions pager">
% if offset > 0:
    <a class="cbi-button" href="/routes?offset={{max(0, offset - limit)}}&amp;limit={{limit}}">Previous</a>
% end
% if offset + len(routes["routes"]) < routes["total"]:
    <a class="cbi-button" href="/routes?offset={{offset + limit}}&amp;limit={{limit}}">Next</a>
% end
  </div>
% end
% elif not offline:
  <p>No routes.</p>
% end
</div>
<script src="/static/routes.js" defer></script>
