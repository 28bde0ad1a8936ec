% rebase('base.tpl', **locals())
<form method="post" action="/setup" class="cbi-map login">
  <h2>Set the panel password</h2>
  <div class="cbi-map-descr">This router's panel has no password yet. Choose one now (at least 8 characters):
    it is stored only as a salted scrypt hash in <code>/etc/config/bacrouter</code>. You log in as <strong>{{username}}</strong>.</div>
  <div class="cbi-section"><div class="cbi-section-node">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <div class="cbi-value">
      <label class="cbi-value-title" for="password">New password</label>
      <div class="cbi-value-field"><input class="cbi-input-password" type="password" id="password" name="password" autocomplete="new-password" minlength="8" autofocus required></div>
    </div>
    <div class="cbi-value">
      <label class="cbi-value-title" for="again">Again</label>
      <div class="cbi-value-field"><input class="cbi-input-password" type="password" id="again" name="again" autocomplete="new-password" minlength="8" required></div>
    </div>
  </div></div>
  <div class="cbi-page-actions">
    <button type="submit" class="cbi-button cbi-button-apply" id="set-password">Set password and log in</button>
  </div>
</form>
