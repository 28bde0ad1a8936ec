'use strict';
'require view';
'require rpc';
'require uci';
'require poll';
'require ui';

/* The router's status from the daemon's ubus object 'bacrouter' (rpcd ACL
 * luci-app-bacrouter: read status and ports, write reload), and a button that
 * opens its web panel (port of the 'panel' section) logged in with this LuCI
 * session: read access to luci-app-bacrouter to look, write access to change. */

var callStatus = rpc.declare({
	object: 'bacrouter',
	method: 'status',
	expect: { '': {} }
});

var callReload = rpc.declare({
	object: 'bacrouter',
	method: 'reload',
	expect: { '': {} }
});

function panelLink() {
	var enabled = uci.get('bacrouter', 'panel', 'enabled');
	if (enabled === '0')
		return E('em', {}, _('The web panel is disabled (panel.enabled).'));
	var port = uci.get('bacrouter', 'panel', 'port') || '8000';
	var url = window.location.protocol + '//' + window.location.hostname + ':' + port + '/luci-login';
	/* The LuCI session id goes in a POST body, never in a URL (logs, history, Referer): the panel
	 * asks rpcd whether it has the luci-app-bacrouter access group and opens with its own session. */
	return E('form', { 'method': 'post', 'action': url, 'target': '_blank', 'rel': 'noopener', 'class': 'inline' }, [
		E('input', { 'type': 'hidden', 'name': 'sid', 'value': rpc.getSessionID() }),
		E('button', { 'type': 'submit', 'class': 'btn cbi-button' }, _('Open the bacrouter web panel'))
	]);
}

function portRows(ports) {
	return (ports || []).map(function(p) {
		return [ p.name, p.kind, p.network, p.state + (p.reason ? ' (' + p.reason + ')' : ''), p.address || '-' ];
	});
}

function renderStatus(status) {
	if (!status || status.error || !status.device)
		return E('div', { 'class': 'alert-message warning' },
			_('The bacrouter daemon does not answer on ubus: is it running, with python3-ubus installed?') +
			(status && status.error ? ' (' + status.error.message + ')' : ''));

	var table = E('table', { 'class': 'table' }, [
		E('tr', { 'class': 'tr table-titles' }, [
			E('th', { 'class': 'th' }, _('Port')),
			E('th', { 'class': 'th' }, _('Kind')),
			E('th', { 'class': 'th' }, _('Network')),
			E('th', { 'class': 'th' }, _('State')),
			E('th', { 'class': 'th' }, _('Address'))
		])
	]);
	cbi_update_table(table, portRows(status.ports), E('em', _('No ports configured')));

	var gateways = [];
	if (status.modbus)
		gateways.push(_('Modbus: %d of %d slaves online').format(status.modbus.online || 0, status.modbus.slaves || 0));
	if (status.freeclient)
		gateways.push(_('Free Client: %d of %d devices online on %d bus(es)').format(
			status.freeclient.online || 0, status.freeclient.devices || 0, status.freeclient.buses || 0));

	return E('div', {}, [
		E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, _('Device')),
			E('p', {}, _('%s, instance %d, bacrouter %s, up %d s').format(
				status.device.name, status.device.instance, status.version, status.uptime_s || 0)),
			E('p', {}, _('%d network(s) reachable').format(status.networks || 0)),
			gateways.length ? E('p', {}, gateways.join('; ')) : ''
		]),
		E('div', { 'class': 'cbi-section' }, [ E('h3', {}, _('Ports')), table ])
	]);
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), null),
			uci.load('bacrouter')
		]);
	},

	render: function(data) {
		var box = E('div', { 'id': 'bacrouter-status' }, renderStatus(data[0]));

		poll.add(function() {
			return L.resolveDefault(callStatus(), null).then(function(status) {
				box.replaceChildren(renderStatus(status));
			});
		}, 5);

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, _('BACnet Router')),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('BACnet router and Modbus / M-Bus / Lua gateway. '), panelLink()
			]),
			box,
			E('div', { 'class': 'cbi-page-actions' }, [
				E('button', {
					'class': 'btn cbi-button cbi-button-apply',
					'click': ui.createHandlerFn(this, function() {
						return callReload().then(function(result) {
							if (result && result.ok)
								ui.addNotification(null, E('p', _('Configuration reloaded.')), 'info');
							else
								ui.addNotification(null, E('p', _('The configuration has errors; the router keeps the previous one: ') +
									((result && result.problems) || [ (result && result.error && result.error.message) || '?' ]).join('; ')), 'warning');
						});
					})
				}, _('Reload configuration'))
			])
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
