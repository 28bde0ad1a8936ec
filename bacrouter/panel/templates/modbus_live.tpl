% rebase('base.tpl', **locals())
<script src="/static/modbus_live.js" defer></script>
<div class="cbi-map" id="modbus-live" data-api="/api/modbus/live" data-refresh="{{refresh}}">
  <h2>Modbus: live</h2>
  <div class="cbi-map-descr">Every slave as the router polls it now, refreshed every {{refresh}} s. Fail rate: the share of the last 100 requests that got no answer or an exception. <a href="/modbus/files" id="files-link">Import and export files</a></div>
% if not masters and not idle:
  <p class="cbi-section-descr" id="no-slaves">{{"No runtime data while the router is not running." if offline else "No Modbus slave is configured."}}</p>
% end
% for m in masters:
  <div class="cbi-section modbus-master" id="master-{{m['name']}}">
    <h3>Master {{m["name"]}} <small>{{m["protocol"]}} on {{m["line"]}}</small></h3>
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Slave</th><th class="th right">Station</th><th class="th">State</th><th class="th right">Points</th><th class="th right">Fail rate</th><th class="th right">Requests</th><th class="th right">Failed</th><th class="th right">Delay</th><th class="th">Last error</th></tr>
% for s in m.get("slaves", []):
%   key = "s." + s["name"]
      <tr class="tr" data-slave="{{s['name']}}">
        <td class="td" data-title="Slave"><a href="/modbus/live/slaves/{{s['name']}}"><strong>{{s["name"]}}</strong></a></td>
        <td class="td right" data-title="Station">{{s["station"]}}</td>
        <td class="td" data-title="State"><span class="state" data-live="{{key}}.state">{{live[key + ".state"]}}</span></td>
        <td class="td right" data-title="Points">{{s["points"]}}</td>
        <td class="td right" data-title="Fail rate" data-live="{{key}}.fail_rate">{{live[key + ".fail_rate"]}}</td>
        <td class="td right" data-title="Requests" data-live="{{key}}.requests">{{live[key + ".requests"]}}</td>
        <td class="td right" data-title="Failed" data-live="{{key}}.failed">{{live[key + ".failed"]}}</td>
        <td class="td right" data-title="Delay" data-live="{{key}}.delay">{{live[key + ".delay"]}}</td>
        <td class="td" data-title="Last error" data-live="{{key}}.last_error">{{live[key + ".last_error"]}}</td>
      </tr>
% end
    </table></div>
  </div>
% end
% if idle:
  <div class="cbi-section" id="idle-slaves">
    <h3>Not polled</h3>
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Slave</th><th class="th">Master</th><th class="th right">Station</th><th class="th">Why</th></tr>
% for s in idle:
      <tr class="tr" data-idle="{{s['name']}}">
        <td class="td" data-title="Slave"><strong>{{s["name"]}}</strong></td>
        <td class="td" data-title="Master">{{s["master"]}}</td>
        <td class="td right" data-title="Station">{{s["station"]}}</td>
        <td class="td" data-title="Why"><span class="idle-why">{{s["why"]}}</span></td>
      </tr>
% end
    </table></div>
  </div>
% end
</div>
