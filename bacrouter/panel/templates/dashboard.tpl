% rebase('base.tpl', **locals())
<div class="cbi-map" id="dashboard">
  <h2>Dashboard</h2>
  <div class="cbi-section" id="system">
    <h3>System</h3>
    <table class="table cbi-section-table kv">
      <tr class="tr"><td class="td left">Device</td><td class="td left">{{device["name"]}} (instance {{device["instance"]}})</td></tr>
      <tr class="tr"><td class="td left">Version</td><td class="td left">bacrouter {{status["version"] if status else version}}</td></tr>
      <tr class="tr"><td class="td left">Uptime</td><td class="td left" data-live="uptime">{{live.get("uptime", "-")}}</td></tr>
      <tr class="tr"><td class="td left">Networks reachable</td><td class="td left" data-live="networks">{{live.get("networks", "-")}}</td></tr>
% if device.get("problems"):
      <tr class="tr"><td class="td left">Configuration</td><td class="td left"><span class="label important">{{device["problems"]}} error(s)</span> (bacrouter check)</td></tr>
% end
    </table>
  </div>

  <div class="cbi-section" id="ports">
    <h3>Ports</h3>
% if not ports:
    <p class="cbi-section-descr">{{"No runtime data while the router is not running." if offline else "No ports are running."}}</p>
% else:
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Name</th><th class="th">Kind</th><th class="th">Network</th><th class="th">State</th><th class="th">Address</th><th class="th right">NPDUs in</th><th class="th right">NPDUs out</th><th class="th">Detail</th></tr>
% for p in ports:
      <tr class="tr cbi-rowstyle-1" data-port="{{p['name']}}">
        <td class="td" data-title="Name"><strong>{{p["name"]}}</strong></td>
        <td class="td" data-title="Kind">{{p["kind"]}}</td>
        <td class="td" data-title="Network">{{p["network"]}}</td>
        <td class="td" data-title="State"><span class="state" data-live="port.{{p['name']}}.state">{{p["state"]}}</span></td>
        <td class="td" data-title="Address" data-live="port.{{p['name']}}.address">{{p.get("address") or "-"}}</td>
        <td class="td right" data-title="NPDUs in" data-live="port.{{p['name']}}.in">{{p.get("npdus_in", 0)}}</td>
        <td class="td right" data-title="NPDUs out" data-live="port.{{p['name']}}.out">{{p.get("npdus_out", 0)}}</td>
        <td class="td" data-title="Detail" data-live="port.{{p['name']}}.detail">{{detail(p)}}</td>
      </tr>
% end
    </table></div>
% end
  </div>

  <div class="cbi-section" id="gateways">
    <h3>Gateways</h3>
% if not gateways:
    <p class="cbi-section-descr">{{"No runtime data while the router is not running." if offline else "No gateway is configured."}}</p>
% else:
    <table class="table cbi-section-table kv">
% for g in gateways:
      <tr class="tr"><td class="td left">{{g["name"]}}{{!' <a href="/modbus/live" id="modbus-live-link">live</a>' if g["key"] == "modbus" else ""}}</td><td class="td left" data-live="gateway.{{g['key']}}">{{g["line"]}}</td></tr>
% end
    </table>
% end
  </div>

  <div class="cbi-section" id="graphs">
    <h3>Last hour</h3>
% if offline:
    <p class="cbi-section-descr">No graphs while the router is not running.</p>
% else:
    <p class="cbi-section-descr">A sample every {{int(history["interval_s"]) if history else 10}} s, kept by the router; the newest on the right.</p>
    <div class="graphs">
% for p in ports:
      <figure class="graph" data-graph="npdus" data-port="{{p['name']}}"><figcaption>{{p["name"]}}: NPDUs/s <span class="in">in</span> / <span class="out">out</span></figcaption></figure>
%   if p["kind"] == "mstp":
      <figure class="graph" data-graph="rotation" data-port="{{p['name']}}"><figcaption>{{p["name"]}}: token rotation (ms)</figcaption></figure>
%   end
% end
% for g in gateways:
%   if g["key"] in ("modbus", "freeclient"):
      <figure class="graph" data-graph="{{g['key']}}_fail_pct"><figcaption>{{g["name"]}}: failed requests (%)</figcaption></figure>
%   end
% end
    </div>
% end
  </div>

  <div class="cbi-section" id="warnings">
    <h3>Latest warnings</h3>
    <ul class="log" id="warning-list">
% for w in reversed(warnings):
      <li class="{{w['level']}}"><span class="when" data-time="{{w['t']}}"></span> <span class="label {{'important' if w['level'] in ('error', 'critical') else 'warning'}}">{{w["level"]}}</span> {{w["message"]}}</li>
% end
% if not warnings:
      <li class="none">{{"No runtime data while the router is not running." if offline else "No warnings."}}</li>
% end
    </ul>
  </div>
</div>
