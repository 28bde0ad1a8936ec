% rebase('base.tpl', **locals())
<form method="post" action="/login" class="cbi-map login">
  <h2>Authorization required</h2>
  <div class="cbi-map-descr">Please enter the panel's user name and password.</div>
  <div class="cbi-section"><div class="cbi-section-node">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <div class="cbi-value">
      <label class="cbi-value-title" for="username">Username</label>
      <div class="cbi-value-field"><input class="cbi-input-text" type="text" id="username" name="username" value="{{username}}" autocomplete="username" required></div>
    </div>
    <div class="cbi-value">
      <label class="cbi-value-title" for="password">Password</label>
      <div class="cbi-value-field"><input class="cbi-input-password" type="password" id="password" name="password" autocomplete="current-password" autofocus required></div>
    </div>
  </div></div>
  <div class="cbi-page-actions">
    <button type="submit" class="cbi-button cbi-button-positive" id="login">Log in</button>
  </div>
</form>
