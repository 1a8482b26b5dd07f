/* Live UTF-8 byte counters for fields WeChat measures in bytes (a Chinese character is 3).
   Progressive enhancement: the server counts and enforces the limit anyway. */
(function () {
  "use strict";
  var encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;
  function bytes(text) {
    if (encoder) { return encoder.encode(text).length; }
    return unescape(encodeURIComponent(text)).length;
  }
  function wire(field) {
    var max = parseInt(field.getAttribute("data-max-bytes"), 10);
    var out = document.querySelector('[data-count-for="' + field.id + '"]');
    if (!out || !max) { return; }
    function update() {
      var n = bytes(field.value);
      out.textContent = n + " / " + max + " 字节" + (n > max ? "（超出 " + (n - max) + "）" : "");
      out.classList.toggle("over", n > max);
      field.setAttribute("aria-invalid", n > max ? "true" : "false");
    }
    field.addEventListener("input", update);
    update();
  }
  var fields = document.querySelectorAll("[data-max-bytes]");
  for (var i = 0; i < fields.length; i++) { wire(fields[i]); }
}());
