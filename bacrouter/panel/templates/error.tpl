% rebase('base.tpl', title=title, active='', user=None, csrf='', message=None, offline=None, version=version)
<div class="cbi-map">
  <h2>{{status}}</h2>
  <div class="cbi-map-descr" id="error-text">{{text}}</div>
  <div class="cbi-page-actions"><a class="cbi-button" href="/">Back</a></div>
</div>
