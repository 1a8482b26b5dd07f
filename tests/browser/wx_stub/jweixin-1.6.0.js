/* Test double of WeChat's jweixin for tests/browser/test_wechat_jssdk.py: every call is
 * recorded in window.__wxCalls (arguments as JSON); wx.config "succeeds" and runs the ready
 * callbacks; wx.getLocation answers window.__wxPosition ([lat, lng], GCJ-02). */
(function () {
  'use strict';
  var calls = window.__wxCalls = [];
  var ready = [];
  function record(name, arg) { calls.push({api: name, arg: JSON.parse(JSON.stringify(arg || null))}); }
  window.wx = {
    config: function (c) {
      record('config', c);
      setTimeout(function () { ready.forEach(function (f) { f(); }); }, 0);
    },
    ready: function (f) { ready.push(f); },
    error: function () { /* this config always succeeds */ },
    openLocation: function (o) { record('openLocation', o); },
    updateAppMessageShareData: function (o) { record('updateAppMessageShareData', o); },
    getLocation: function (o) {
      record('getLocation', o);
      var p = window.__wxPosition;
      setTimeout(function () { o.success({latitude: p[0], longitude: p[1], accuracy: 30}); }, 0);
    }
  };
})();
