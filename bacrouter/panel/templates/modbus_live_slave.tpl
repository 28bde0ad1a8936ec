% rebase('base.tpl', **locals())
<script src="/static/modbus_live.js" defer></script>
<div class="cbi-map" id="modbus-slave" data-slave="{{slave}}" data-api="/api/modbus/live/slaves/{{slave}}?offset={{offset}}&amp;limit={{limit}}" data-refresh="{{refresh}}">
  <h2>Modbus slave {{slave}}</h2>
  <div class="cbi-map-descr"><a href="/modbus/live">All slaves</a> · <a href="/modbus/files#slave-{{slave}}">Export this slave</a> · values refresh every {{refresh}} s</div>
% if missing:
  <div class="alert-message warning" id="not-running">
    <p>{{missing}}</p>
% if configured and not configured["enabled"]:
    <p>The slave is configured but not polled: {{configured["why"]}}.</p>
% elif configured:
    <p>The slave is configured: Save &amp; Apply (or <code>bacrouter reload</code>) starts it.</p>
% end
  </div>
% end
% if view:
%   key = "s." + slave
  <div class="cbi-section" id="slave-state">
    <h3>State</h3>
    <table class="table cbi-section-table kv">
      <tr class="tr"><td class="td left">State</td><td class="td left"><span class="state" data-live="{{key}}.state">{{live[key + ".state"]}}</span></td></tr>
      <tr class="tr"><td class="td left">Master, station</td><td class="td left">{{view["master"]}}, station {{view["station"]}}</td></tr>
      <tr class="tr"><td class="td left">Points</td><td class="td left">{{view["total"]}} ({{view["requests_per_cycle"]}} request(s) per poll)</td></tr>
      <tr class="tr"><td class="td left">Fail rate</td><td class="td left" data-live="{{key}}.fail_rate">{{live[key + ".fail_rate"]}}</td></tr>
      <tr class="tr"><td class="td left">Requests, failed, exceptions</td><td class="td left"><span data-live="{{key}}.requests">{{live[key + ".requests"]}}</span>, <span data-live="{{key}}.failed">{{live[key + ".failed"]}}</span>, <span data-live="{{key}}.exceptions">{{live[key + ".exceptions"]}}</span></td></tr>
      <tr class="tr"><td class="td left">Went offline</td><td class="td left"><span data-live="{{key}}.went_offline">{{live[key + ".went_offline"]}}</span> time(s)</td></tr>
      <tr class="tr"><td class="td left">Update delay</td><td class="td left" data-live="{{key}}.delay">{{live[key + ".delay"]}}</td></tr>
      <tr class="tr"><td class="td left">Writes queued</td><td class="td left" data-live="{{key}}.pending">{{live[key + ".pending"]}}</td></tr>
      <tr class="tr"><td class="td left">Last error</td><td class="td left" data-live="{{key}}.last_error" id="last-error">{{live[key + ".last_error"]}}</td></tr>
% if view.get("device"):
      <tr class="tr"><td class="td left">Virtual device</td><td class="td left">{{view["device"]["instance"]}} ({{"present" if view["device"]["present"] else "silent"}})</td></tr>
% end
    </table>
  </div>

  <div class="cbi-section" id="status-objects">
    <h3>Status objects</h3>
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Object</th><th class="th">Name</th><th class="th right">Value</th><th class="th">Reliability</th></tr>
% for s in view["status"]:
      <tr class="tr" data-status="{{s['name']}}">
        <td class="td" data-title="Object">{{s["object"]}}</td>
        <td class="td" data-title="Name">{{s["object_name"]}}</td>
        <td class="td right" data-title="Value" data-live="status.{{s['name']}}.value">{{live["status." + s["name"] + ".value"]}}</td>
        <td class="td" data-title="Reliability"><span class="reliability" data-live="status.{{s['name']}}.rel">{{live["status." + s["name"] + ".rel"]}}</span></td>
      </tr>
% end
    </table></div>
  </div>

  <div class="cbi-section" id="read-group-section">
    <h3>Read Group</h3>
    <p class="cbi-section-descr">Runs the slave's read plan once, now, between the master's other requests, and shows each request with its result and time.</p>
    <button type="button" class="cbi-button cbi-button-action" id="read-group">Read Group</button>
% include("job.tpl", job_id="read-group-job")
    <div class="table-wrap"><table class="table cbi-section-table" id="read-group-table" hidden>
      <tr class="tr table-titles"><th class="th right">#</th><th class="th">Function</th><th class="th">Addresses</th><th class="th">Result</th><th class="th right">Time</th><th class="th">Values</th></tr>
    </table></div>
  </div>

  <div class="cbi-section" id="points">
    <h3>Points</h3>
%   end_ = min(offset + limit, view["total"])
% if view["total"] > limit or offset:
    <p class="pager" id="pager">Points {{offset + 1 if view["total"] else 0}}–{{end_}} of {{view["total"]}}
% if offset > 0:
      <a class="cbi-button" href="?offset={{max(0, offset - limit)}}&amp;limit={{limit}}" id="previous">Previous</a>
% end
% if end_ < view["total"]:
      <a class="cbi-button" href="?offset={{end_}}&amp;limit={{limit}}" id="next">Next</a>
% end
    </p>
% end
    <div class="table-wrap"><table class="table cbi-section-table" id="point-table">
      <tr class="tr table-titles"><th class="th right">#</th><th class="th">Point</th><th class="th">Object</th><th class="th">Register</th><th class="th">Raw</th><th class="th right">Value</th><th class="th">Reliability</th><th class="th right">Age</th></tr>
% for row in view["rows"]:
%   k = "p." + str(row["index"])
      <tr class="tr" data-point="{{row['name']}}">
        <td class="td right" data-title="#">{{row["index"] + 1}}</td>
        <td class="td" data-title="Point">{{row["name"]}}</td>
        <td class="td" data-title="Object" title="{{row['object_name']}}">{{row["object"]}}</td>
        <td class="td" data-title="Register">{{row["address_type"]}} {{row["address"]}} {{row["data_type"]}}</td>
        <td class="td mono" data-title="Raw" data-live="{{k}}.raw">{{live[k + ".raw"]}}</td>
        <td class="td right" data-title="Value" data-live="{{k}}.value">{{live[k + ".value"]}}</td>
        <td class="td" data-title="Reliability"><span class="reliability" data-live="{{k}}.rel">{{live[k + ".rel"]}}</span></td>
        <td class="td right" data-title="Age" data-live="{{k}}.age">{{live[k + ".age"]}}</td>
      </tr>
% end
    </table></div>
% if not view["rows"]:
    <p>No points on this page.</p>
% end
  </div>
% end
</div>
