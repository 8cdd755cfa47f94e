// belvo-mock's drop-in for Belvo's widget script (https://cdn.belvo.io/belvo-widget-1-stable.js):
// load this one from the fake instead, and
//   window.belvoSDK.createWidget(access_token, config).build()
// opens the fake's hosted widget in an iframe inside <div id="belvo">. The widget's pages post
// what happens; this script calls config.callback(link, institution) on success,
// config.onExit(data) when the user leaves and config.onEvent(data) for PAGE_LOAD and ERROR
// events, then removes the iframe (after success or exit).
(function () {
  'use strict';
  var script = document.currentScript;
  var fake = new URL(script ? script.src : window.location.href).origin;
  // The startup configuration keys the hosted widget reads from its URL.
  var STARTUP = ['locale', 'access_mode', 'external_id', 'institutions', 'institution_types',
    'country_codes', 'resources', 'show_close_dialog', 'show_abandon_survey'];

  function createWidget(accessToken, config) {
    config = config || {};
    return {
      build: function () {
        var host = document.getElementById('belvo');
        if (!host) throw new Error('belvo-mock: the page has no <div id="belvo"> to build the widget in');
        var query = new URLSearchParams({ access_token: accessToken, sdk_origin: window.location.origin });
        STARTUP.forEach(function (key) {
          var value = config[key];
          if (value === undefined || value === null) return;
          query.set(key, Array.isArray(value) ? value.join(',') : String(value));
        });
        var frame = document.createElement('iframe');
        frame.src = fake + '/widget/?' + query.toString();
        frame.title = 'Belvo';
        frame.style.cssText = 'border:0;width:100%;max-width:420px;height:680px;display:block;margin:0 auto';
        host.replaceChildren(frame);

        function close() {
          window.removeEventListener('message', listen);
          frame.remove();
        }
        function listen(event) {
          if (event.origin !== fake || event.source !== frame.contentWindow) return;
          if (!event.data || event.data.belvoMock !== true) return;
          var message = event.data.message || {};
          if (message.kind === 'success') {
            close();
            if (typeof config.callback === 'function') config.callback(message.link, message.institution);
          } else if (message.kind === 'exit') {
            close();
            if (typeof config.onExit === 'function') config.onExit(message.data);
          } else if (message.kind === 'event') {
            if (typeof config.onEvent === 'function') config.onEvent(message.data);
          }
        }
        window.addEventListener('message', listen);
      },
    };
  }

  window.belvoSDK = { createWidget: createWidget };
})();
