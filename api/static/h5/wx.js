/* WeChat's JS-SDK on our H5 pages; loaded only inside WeChat, after WeChat's own script.
 * Nothing changes until wx.config succeeds: the map links stay, so a page whose config
 * fails (WeChat's API down, an expired link) works exactly as outside WeChat.
 * - [data-wx-nav]: "导航" opens WeChat's map at the outlet (GCJ-02, from the server).
 * - [data-wx-here]: "用我的位置" re-ranks the nearby list from wx.getLocation (GCJ-02).
 * - [data-wx-share]: the card a forwarded outlet page shows (a link with nobody in it).
 * - <wx-open-subscribe>: WeChat renders the reminder's consent button once configured.
 */
(function () {
  'use strict';
  var wx = window.wx;
  var nav = document.querySelectorAll('[data-wx-nav]');
  var here = document.querySelector('[data-wx-here]');
  var share = document.querySelector('[data-wx-share]');
  var openTag = document.querySelector('wx-open-subscribe');  // the coupon reminder's consent
  if (!wx || !(nav.length || here || share || openTag)) return;

  var failed = false;
  var page = location.href.split('#')[0];
  fetch('/api/v1/wechat/js-config?url=' + encodeURIComponent(page),
        {credentials: 'same-origin', cache: 'no-store'})
    .then(function (r) {
      if (!r.ok) throw new Error('js-config ' + r.status);
      return r.json();
    })
    .then(function (c) {
      wx.error(function () { failed = true; });
      wx.ready(function () { if (!failed) enable(); });
      wx.config({debug: false, appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr,
                 signature: c.signature, jsApiList: c.jsApiList, openTagList: c.openTagList});
    })
    .catch(function () { /* no config: the ordinary links stay */ });

  function enable() {
    Array.prototype.forEach.call(nav, enableNav);
    if (here) enableHere(here);
    if (share) {
      var d = share.dataset;
      wx.updateAppMessageShareData({title: d.title, desc: d.desc, link: d.link, imgUrl: d.img});
    }
  }

  function enableNav(button) {
    var actions = button.parentNode;
    var label = actions.querySelector('[data-wx-label]');
    var fallback = actions.querySelector('a.act');
    button.addEventListener('click', function () {
      wx.openLocation({
        latitude: parseFloat(button.dataset.lat), longitude: parseFloat(button.dataset.lng),
        name: button.dataset.name, address: button.dataset.address, scale: 16,
        fail: function () { if (fallback) location.href = fallback.href; }
      });
    });
    if (label) label.hidden = true;
    button.hidden = false;
  }

  function enableHere(box) {
    var note = box.querySelector('[data-wx-note]');
    box.querySelector('button').addEventListener('click', function () {
      note.textContent = '正在获取位置…';
      wx.getLocation({
        type: 'gcj02',
        success: function (res) {
          // Keep the page's own query (WeChat's share markers): a forwarded copy stays one.
          var query = new URLSearchParams(location.search);
          query.set('lat', res.latitude);
          query.set('lng', res.longitude);
          location.href = box.dataset.wxHere + '?' + query.toString();
        },
        fail: function () { note.textContent = '无法获取位置，请在微信中允许定位后重试。'; },
        cancel: function () { note.textContent = ''; }
      });
    });
    box.hidden = false;
  }
})();
