<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf" content="{{csrf}}">
<title>bacrouter{{" | " + title if title else ""}}</title>
<link rel="stylesheet" href="/static/theme.css">
<link rel="stylesheet" href="/static/panel.css">
<script src="/static/panel.js" defer></script>
</head>
<body class="page-{{active or 'plain'}}" data-page="{{active}}">
<header>
  <a class="brand" href="/">bacrouter</a>
% if user:
  <input type="checkbox" id="menu-toggle" class="menu-toggle" aria-label="menu">
  <label for="menu-toggle" class="menu-button" title="Menu">&#9776;</label>
  <ul class="nav" id="topmenu">
% for key, label, href in menu:
    <li class="{{'active' if active == key else ''}}"><a href="{{href}}">{{label}}</a></li>
% end
  </ul>
  <div id="indicators" class="pull-right">
% if get("staged"):
    <a id="staged-badge" class="label warning" href="/changes">{{staged}} change(s) staged</a>
% end
    <span id="online-indicator" class="label {{'notice' if offline else 'success'}}">{{"offline" if offline else "online"}}</span>
    <form method="post" action="/logout" class="inline">
      <input type="hidden" name="csrf" value="{{csrf}}">
      <button type="submit" class="cbi-button cbi-button-neutral" id="logout">Log out</button>
    </form>
  </div>
% end
</header>
<div id="maincontent" class="container">
% if offline:
  <div class="alert-message warning" id="offline">
    <h4>Offline</h4>
    <p>{{offline}}</p>
  </div>
% end
% if message:
  <div class="alert-message error" id="message">{{message}}</div>
% end
{{!base}}
  <footer>bacrouter {{version}}</footer>
</div>
</body>
</html>
