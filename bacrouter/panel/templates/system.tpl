% rebase('base.tpl', **locals())
<div class="cbi-map" id="system-page">
  <h2>System</h2>
% if notice:
  <div class="alert-message success" id="notice">{{notice}}</div>
% end
% if reload:
  <div class="alert-message {{'success' if reload.get('state') in ('reloaded', 'not running') else 'warning'}}" id="reload">
    Reload: {{reload.get("state")}}
% if reload.get("summary"):
    ({{reload["summary"] if isinstance(reload["summary"], str) else ", ".join(f"{k} {v}" for k, v in reload["summary"].items()) if isinstance(reload["summary"], dict) else reload["summary"]}})
% end
% if reload.get("message"):
    : {{reload["message"]}}
% end
% for p in reload.get("problems") or []:
    <br>{{p.get("message", p) if isinstance(p, dict) else p}}
% end
  </div>
% end

  <div class="cbi-section" id="device-section">
    <h3>Device</h3>
% for line in device_other:
    <div class="alert-message error">{{line}}</div>
% end
    <form method="post" action="/system/device" id="device-form">
      <input type="hidden" name="csrf" value="{{csrf}}">
% for key, label in options:
      <div class="cbi-value{{' error' if key in device_problems else ''}}" id="field-{{key}}">
        <label class="cbi-value-title" for="{{key}}">{{label}}</label>
        <div class="cbi-value-field">
% if key == "log_level":
          <select name="{{key}}" id="{{key}}">
% for choice in ("", "debug", "info", "warning", "error"):
            <option value="{{choice}}"{{!' selected' if device.get(key, '') == choice else ''}}>{{choice or "(default: info)"}}</option>
% end
          </select>
% else:
          <input type="text" name="{{key}}" id="{{key}}" value="{{device.get(key, '')}}">
% end
% for problem in device_problems.get(key, []):
          <div class="cbi-value-error field-problem">{{problem}}</div>
% end
        </div>
      </div>
% end
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-apply" id="device-save">Save &amp; reload</button></div>
    </form>
  </div>

  <div class="cbi-section" id="password-section">
    <h3>Password</h3>
% if password_problem:
    <div class="alert-message error" id="password-problem">{{password_problem}}</div>
% end
    <form method="post" action="/system/password" id="password-form">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <div class="cbi-value"><label class="cbi-value-title" for="old">Current password</label>
        <div class="cbi-value-field"><input type="password" name="old" id="old" autocomplete="current-password"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="password">New password</label>
        <div class="cbi-value-field"><input type="password" name="password" id="password" autocomplete="new-password"></div></div>
      <div class="cbi-value"><label class="cbi-value-title" for="again">New password again</label>
        <div class="cbi-value-field"><input type="password" name="again" id="again" autocomplete="new-password"></div></div>
      <div class="cbi-page-actions"><button type="submit" class="cbi-button cbi-button-apply" id="password-save">Change the password</button></div>
    </form>
  </div>

  <div class="cbi-section" id="backup-section">
    <h3>Backup and restore</h3>
    <p><a class="cbi-button" href="/system/backup" id="backup">Download the router file</a> (secrets are left out)</p>
% if restore_problem:
    <div class="alert-message error" id="restore-problem">{{restore_problem}}</div>
% end
% if plan:
    <div id="plan">
      <h4>What the restore changes</h4>
      <div class="table-wrap"><table class="table" id="plan-summary">
        <tr class="tr table-titles"><th class="th">Kind</th><th class="th right">Added</th><th class="th right">Changed</th><th class="th right">Removed</th></tr>
% for kind, counts in plan.summary.items():
        <tr class="tr"><td class="td">{{kind}}</td><td class="td right">{{counts["added"]}}</td><td class="td right">{{counts["changed"]}}</td><td class="td right">{{counts["removed"]}}</td></tr>
% end
      </table></div>
      <ul id="plan-changes">
% for change in plan.changes:
        <li>{{str(change)}}</li>
% end
% if not plan.changes:
        <li>Nothing changes.</li>
% end
      </ul>
% for note in plan.notes:
      <p class="note">{{note}}</p>
% end
% if plan.problems:
      <ul id="plan-problems">
% for problem in plan.problems:
        <li class="{{problem.severity}}">{{str(problem)}}</li>
% end
      </ul>
% end
% if plan_token:
      <form method="post" action="/system/restore/apply" id="restore-apply-form">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="plan" value="{{plan_token}}">
        <button type="submit" class="cbi-button cbi-button-apply" id="restore-apply">Apply this restore</button>
      </form>
% else:
      <p id="plan-refused">The file's configuration has errors: it cannot be restored.</p>
% end
    </div>
% end
% if result:
    <ul id="restore-result">
% for name in result.files:
      <li>{{name}}</li>
% end
    </ul>
% end
    <form method="post" action="/system/restore" enctype="multipart/form-data" id="restore-form">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <input type="file" name="file" id="restore-file" accept=".json,application/json">
      <button type="submit" class="cbi-button" id="restore-check">Check the file</button>
    </form>
  </div>

  <div class="cbi-section" id="log-section">
    <h3>Recent log</h3>
    <form method="get" action="/system" class="inline" id="log-filter">
      <select name="level" id="log-level">
% for choice in levels:
        <option value="{{choice}}"{{!' selected' if choice == level else ''}}>{{choice}} and above</option>
% end
      </select>
      <button type="submit" class="cbi-button">Show</button>
      <a class="cbi-button" href="/system/log.txt?level={{level}}" id="log-download">Download</a>
    </form>
    <div class="table-wrap"><table class="table" id="log-table">
      <tr class="tr table-titles"><th class="th">Time</th><th class="th">Level</th><th class="th">Message</th></tr>
% for e in reversed(lines):
      <tr class="tr log-{{e.get('level')}}"><td class="td" data-title="Time">{{stamp(e.get("t"))}}</td><td class="td" data-title="Level">{{e.get("level")}}</td><td class="td" data-title="Message">{{e.get("logger")}}: {{e.get("message")}}</td></tr>
% end
    </table></div>
% if not lines and not offline:
    <p>No lines at this level.</p>
% end
  </div>
</div>
