% rebase('base.tpl', **locals())
<div class="cbi-map" id="ports-page">
  <h2>Ports</h2>
  <div class="cbi-map-descr">The router's ports as they run now (<a href="/config/ports">configure them</a>).</div>
  <div class="cbi-section" id="ports">
% if not ports:
    <p class="cbi-section-descr">{{"No runtime data while the router is not running." if offline else "No ports are running."}}</p>
% else:
    <div class="table-wrap"><table class="table cbi-section-table">
      <tr class="tr table-titles"><th class="th">Name</th><th class="th">Kind</th><th class="th">Network</th><th class="th">State</th><th class="th">Address</th><th class="th right">NPDUs in</th><th class="th right">NPDUs out</th><th class="th">Detail</th></tr>
% for p in ports:
      <tr class="tr" data-port="{{p['name']}}">
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
% for p in ports:
%   link = p.get("link") or {}
%   if p["kind"] == "bip" and ("fdt" in link or link.get("registration")):
  <div class="cbi-section bip" id="bip-{{p['name']}}">
%     if "fdt" in link:
    <h3>BBMD {{p["name"]}}</h3>
    <table class="table cbi-section-table kv">
      <tr class="tr"><td class="td left">Broadcast distribution table</td><td class="td left">{{", ".join(link.get("bdt") or []) or "empty"}}</td></tr>
      <tr class="tr"><td class="td left">Foreign devices</td><td class="td left" data-live="bip.{{p['name']}}.fdt">{{len(link["fdt"])}} of at most {{link.get("fdt_size")}}</td></tr>
    </table>
    <h4>Foreign device table</h4>
    <div class="table-wrap"><table class="table cbi-section-table fdt" data-fdt="{{p['name']}}">
      <tr class="tr table-titles"><th class="th">Address</th><th class="th right">TTL</th><th class="th right">Time left</th></tr>
%       for e in link["fdt"]:
      <tr class="tr"><td class="td" data-title="Address">{{e["address"]}}</td><td class="td right" data-title="TTL">{{e["ttl"]}} s</td><td class="td right" data-title="Time left">{{e["remaining"]}} s</td></tr>
%       end
%       if not link["fdt"]:
      <tr class="tr none"><td class="td" colspan="3">No foreign device is registered.</td></tr>
%       end
    </table></div>
%     end
%     reg = link.get("registration")
%     if reg:
    <h3>Foreign device {{p["name"]}}</h3>
    <table class="table cbi-section-table kv registration" data-registration="{{p['name']}}">
      <tr class="tr"><td class="td left">BBMD</td><td class="td left">{{reg["bbmd"]}}</td></tr>
      <tr class="tr"><td class="td left">Registration</td><td class="td left"><span class="state {{reg['state']}}" data-live="bip.{{p['name']}}.registration">{{reg["state"]}}</span></td></tr>
      <tr class="tr"><td class="td left">Time-to-live</td><td class="td left">{{reg["ttl"]}} s</td></tr>
      <tr class="tr"><td class="td left">Kept by the BBMD for</td><td class="td left" data-live="bip.{{p['name']}}.expires">{{live.get("bip." + p["name"] + ".expires", "-")}}</td></tr>
      <tr class="tr"><td class="td left">Next registration</td><td class="td left" data-live="bip.{{p['name']}}.next">{{live.get("bip." + p["name"] + ".next", "-")}}</td></tr>
    </table>
%     end
  </div>
%   end
%   if p["kind"] != "mstp":
%     continue
%   end
%   sniffer = link.get("sniffer") or {}
  <div class="cbi-section mstp" id="mstp-{{p['name']}}">
    <h3>MS/TP {{p["name"]}}</h3>
    <table class="table cbi-section-table kv">
      <tr class="tr"><td class="td left">Station</td><td class="td left">{{p.get("address") or "-"}} on {{p.get("interface") or "-"}}</td></tr>
      <tr class="tr"><td class="td left">Token rotation</td><td class="td left" data-live="mstp.{{p['name']}}.rotation">{{live.get("mstp." + p["name"] + ".rotation", "-")}}</td></tr>
      <tr class="tr"><td class="td left">Current max master</td><td class="td left" data-live="mstp.{{p['name']}}.max_master">{{live.get("mstp." + p["name"] + ".max_master", "-")}}</td></tr>
      <tr class="tr"><td class="td left">Line</td><td class="td left">{{", ".join(p.get("line") or []) or "-"}}</td></tr>
      <tr class="tr"><td class="td left">Capture</td><td class="td left"><span data-live="mstp.{{p['name']}}.capture">{{live.get("mstp." + p["name"] + ".capture", "-")}}</span>
        <span class="capture-buttons">
          <button type="button" class="cbi-button cbi-button-action" data-capture="start" data-port="{{p['name']}}">Start capture</button>
          <button type="button" class="cbi-button cbi-button-negative" data-capture="stop" data-port="{{p['name']}}">Stop and download</button>
        </span></td></tr>
    </table>
    <h4>Recently active devices</h4>
    <div class="table-wrap"><table class="table cbi-section-table devices" data-devices="{{p['name']}}">
      <tr class="tr table-titles"><th class="th">MAC</th><th class="th">Role</th><th class="th right">Frames</th><th class="th right">Last seen</th></tr>
% for d in devices(p):
      <tr class="tr"><td class="td" data-title="MAC">{{d["mac"]}}</td><td class="td" data-title="Role">{{d["role"]}}</td><td class="td right" data-title="Frames">{{d["frames"]}}</td><td class="td right" data-title="Last seen">{{d["last_seen_s"]}} s ago</td></tr>
% end
    </table></div>
  </div>
% end
  <div class="cbi-section" id="captures">
    <h3>Captures</h3>
    <p class="cbi-section-descr">pcap files of MS/TP ports (open them with Wireshark or <code>tshark -r</code>).</p>
    <ul id="capture-list">
% for c in captures:
      <li><a href="/captures/{{c['name']}}" download>{{c["name"]}}</a> ({{c["size"]}} octets, {{c["time"]}})</li>
% end
% if not captures:
      <li class="none">No captures yet.</li>
% end
    </ul>
  </div>
</div>
<script src="/static/ports.js" defer></script>
