% rebase('base.tpl', **locals())
<div class="cbi-map" id="mbus-page">
  <h2>M-Bus</h2>
  <div class="cbi-map-descr">Find the meters on an M-Bus line (behind an M-Bus/RS485 converter), read one, and make BACnet points of its records on a Free Client bus running the shipped <code>mbus.lua</code>. A line a running bus uses is refused: disable the bus to scan it.</div>
% if not lines:
  <div class="alert-message warning" id="no-lines">resource.conf has no USB (serial) resource: add the converter's line there first.</div>
% end
  <div class="cbi-section" id="line-section">
    <h3>Line</h3>
    <div class="cbi-value"><label class="cbi-value-title" for="mbus-line">Line</label>
      <div class="cbi-value-field"><select id="mbus-line">
% for line in lines:
        <option value="{{line['name']}}">{{line["name"]}} ({{line["ifname"]}}{{"; used by " + line["users"] if line["users"] else ""}})</option>
% end
      </select></div></div>
    <div class="cbi-value"><label class="cbi-value-title" for="mbus-baud">Baud rate</label>
      <div class="cbi-value-field"><select id="mbus-baud">
% for baud in bauds:
        <option value="{{baud}}"{{!' selected' if baud == 2400 else ''}}>{{baud}}</option>
% end
      </select></div></div>
    <div class="cbi-value"><label class="cbi-value-title" for="mbus-parity">Parity</label>
      <div class="cbi-value-field"><select id="mbus-parity">
% for parity in parities:
        <option value="{{parity}}">{{parity}}{{" (8E1, the standard)" if parity == "even" else ""}}</option>
% end
      </select></div></div>
    <div class="cbi-value"><label class="cbi-value-title" for="mbus-timeout">Answer timeout (ms)</label>
      <div class="cbi-value-field"><input type="number" id="mbus-timeout" min="1" max="10000" placeholder="330 bit times + 50 ms"></div></div>
    <div class="cbi-value"><label class="cbi-value-title" for="mbus-retries">Retries</label>
      <div class="cbi-value-field"><input type="number" id="mbus-retries" min="0" max="5" value="1"></div></div>
  </div>

  <div class="cbi-section" id="scan-section">
    <h3>Scan</h3>
    <form id="scan-form">
      <div class="cbi-value"><label class="cbi-value-title" for="mbus-mode">Search by</label>
        <div class="cbi-value-field"><select id="mbus-mode">
          <option value="primary">primary address (0..250)</option>
          <option value="secondary">secondary address (select masks)</option>
        </select></div></div>
      <div class="cbi-value primary-only"><label class="cbi-value-title" for="mbus-first">First address</label>
        <div class="cbi-value-field"><input type="number" id="mbus-first" min="0" max="250" value="0"></div></div>
      <div class="cbi-value primary-only"><label class="cbi-value-title" for="mbus-last">Last address</label>
        <div class="cbi-value-field"><input type="number" id="mbus-last" min="0" max="250" value="250"></div></div>
      <div class="cbi-value secondary-only" hidden><label class="cbi-value-title" for="mbus-mask">Mask</label>
        <div class="cbi-value-field"><input type="text" id="mbus-mask" value="FFFFFFFFFFFFFFFF" maxlength="16" pattern="[0-9A-Fa-f]{16}" title="16 hex digits, F: any digit"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-action" id="scan-start"{{!' disabled' if offline or not lines else ''}}>Scan</button></div>
    </form>
% include("job.tpl", job_id="scan-job")
    <div class="alert-message error" id="scan-problem" hidden></div>
    <div class="table-wrap" id="meters" hidden><table class="table cbi-section-table" id="meter-table">
      <thead><tr class="tr table-titles"><th class="th">Address</th><th class="th">ID</th><th class="th">Manufacturer</th><th class="th">Medium</th><th class="th right">Version</th><th class="th"></th></tr></thead>
      <tbody></tbody>
    </table></div>
  </div>

  <div class="cbi-section" id="read-section">
    <h3>Read a meter</h3>
    <form id="read-form" class="read-form">
      <div class="cbi-value"><label class="cbi-value-title" for="read-address">Address</label>
        <div class="cbi-value-field"><input type="text" id="read-address" placeholder="0..250 or 16 hex digits" maxlength="16"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-action" id="read-start"{{!' disabled' if offline or not lines else ''}}>Read</button></div>
    </form>
% include("job.tpl", job_id="read-job")
    <div class="alert-message error" id="read-problem" hidden></div>
    <p id="meter-summary" hidden></p>
    <div class="table-wrap" id="records" hidden><table class="table cbi-section-table" id="record-table">
      <thead><tr class="tr table-titles"><th class="th"><input type="checkbox" id="pick-all" aria-label="all records"></th><th class="th right">ID</th><th class="th">Function</th><th class="th">Unit</th><th class="th right">Value</th><th class="th right">Storage</th><th class="th right">Tariff</th><th class="th">Description</th><th class="th">Point name</th></tr></thead>
      <tbody></tbody>
    </table></div>
  </div>

  <div class="cbi-section" id="points-section" hidden>
    <h3>Make points from these records</h3>
    <p class="cbi-section-descr">The records ticked above become analog points (read-only) of a device of a Free Client M-Bus bus; their units come from the records. The change is staged: review it and Save &amp; Apply in <a href="/changes">Changes</a>.</p>
    <form id="points-form">
      <div class="cbi-value"><label class="cbi-value-title" for="points-bus">Bus</label>
        <div class="cbi-value-field"><select id="points-bus">
% for bus in buses:
          <option value="{{bus['name']}}">{{bus["name"]}}{{" (" + bus["resource"] + ")" if bus["resource"] else ""}}</option>
% end
          <option value="">a new bus on this line</option>
        </select></div></div>
      <div class="cbi-value" id="new-bus-field"><label class="cbi-value-title" for="points-new-bus">New bus name</label>
        <div class="cbi-value-field"><input type="text" id="points-new-bus" value="mbus" pattern="[A-Za-z0-9_]+" title="letters, digits and _"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="points-device">Device name</label>
        <div class="cbi-value-field"><input type="text" id="points-device" maxlength="64"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="points-instance">Device instance</label>
        <div class="cbi-value-field"><input type="number" id="points-instance" min="0" max="4194302" placeholder="(virtual-device mode only)"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-apply" id="points-make">Make points</button></div>
    </form>
    <div class="alert-message" id="points-result" hidden></div>
  </div>
</div>
<script src="/static/mbus.js" defer></script>
