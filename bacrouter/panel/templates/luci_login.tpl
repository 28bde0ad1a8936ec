% rebase('base.tpl', **locals())
<div class="cbi-map" id="luci-login">
  <h2>Logged in through LuCI</h2>
  <div class="cbi-map-descr">
% if write:
    Your LuCI login has write access to the BACnet router: the panel is yours to use.
% else:
    Your LuCI login has read access only: you can look at every page, but changes need write access
    (or the panel password).
% end
  </div>
  <div class="cbi-page-actions"><a class="cbi-button cbi-button-positive" id="continue" href="/">Continue to the panel</a></div>
</div>
