% rebase('base.tpl', **locals())
<div class="cbi-map" id="discovery-page">
  <h2>Discovery</h2>
  <div class="cbi-map-descr">Who-Is through the router: every device that answers, on one network or all of them. The router's own device asks, so the devices of every network in the routing table can be read and written.</div>
  <div class="cbi-section" id="whois-section">
    <h3>Who-Is</h3>
    <form id="whois-form" class="whois-form">
      <div class="cbi-value"><label class="cbi-value-title" for="whois-network">Network</label>
        <div class="cbi-value-field"><select id="whois-network" name="network">
          <option value="">all networks (global broadcast)</option>
% for n in networks:
          <option value="{{n['network']}}">{{n["network"]}} ({{"port " + str(n["port"]) if n["direct"] else "via port " + str(n["port"])}})</option>
% end
        </select></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="whois-low">Lowest instance</label>
        <div class="cbi-value-field"><input type="number" id="whois-low" name="low" min="0" max="{{max_instance}}" placeholder="any"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="whois-high">Highest instance</label>
        <div class="cbi-value-field"><input type="number" id="whois-high" name="high" min="0" max="{{max_instance}}" placeholder="any"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="whois-wait">Wait (s)</label>
        <div class="cbi-value-field"><input type="number" id="whois-wait" name="wait" min="0.1" max="30" step="0.1" value="3"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-action" id="whois-start"{{!' disabled' if offline else ''}}>Who-Is</button></div>
    </form>
% include("job.tpl", job_id="whois-job")
    <div class="alert-message error" id="whois-problem" hidden></div>
  </div>
  <div class="cbi-section" id="devices-section" hidden>
    <h3>Devices</h3>
    <p class="cbi-section-descr" id="devices-count"></p>
    <div class="table-wrap"><table class="table cbi-section-table" id="device-table">
      <thead><tr class="tr table-titles"><th class="th right">Instance</th><th class="th right">Network</th><th class="th">MAC</th><th class="th right">Vendor</th><th class="th">Name</th><th class="th"></th></tr></thead>
      <tbody></tbody>
    </table></div>
  </div>
</div>
<script src="/static/discovery.js" defer></script>
