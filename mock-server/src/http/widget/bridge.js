// belvo-mock's widget bridge: an embedded widget page posts its messages (PAGE_LOAD and ERROR
// events, then success or exit) to the app's page, at the origin the widget script named.
(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || window.parent === window) return;
  var origin = me.getAttribute('data-origin');
  var messages = JSON.parse(me.getAttribute('data-messages') || '[]');
  for (var i = 0; i < messages.length; i++) {
    window.parent.postMessage({ belvoMock: true, message: messages[i] }, origin);
  }
})();
