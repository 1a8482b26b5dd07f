/* The till's camera: find the customer's coupon QR in the video and submit the same code
   form a cashier would type into. BarcodeDetector where the browser has it for QR codes,
   else the vendored zxing-wasm reader (loaded on first use, its .wasm from this origin).
   Without JavaScript or a camera the section stays hidden and the typed form works alone. */
"use strict";
(function () {
  const scan = document.getElementById("scan");
  const form = document.getElementById("code-form");
  if (!scan || !form || !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) return;
  const video = document.getElementById("scan-video");
  const start = document.getElementById("scan-start");
  const stop = document.getElementById("scan-stop");
  const status = document.getElementById("scan-status");
  // What the coupon page's QR encodes: the canonical code and nothing else.
  const CODE = new RegExp("^" + scan.dataset.codePattern + "$");
  const INTERVAL_MS = 150;
  const MAX_SIDE = 720; // frames are scaled down to this before decoding
  let stream = null;
  let decode = null;
  let timer = null;

  function say(text) { status.textContent = text; }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("无法加载扫码组件"));
      document.head.appendChild(s);
    });
  }

  async function nativeDecoder() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (!formats.includes("qr_code")) return null;
      const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return async (frame) => (await detector.detect(frame)).map((b) => b.rawValue);
    } catch (_) {
      return null;
    }
  }

  async function zxingDecoder() {
    await loadScript(scan.dataset.zxingJs);
    const wasm = scan.dataset.zxingWasm;
    window.ZXingWASM.prepareZXingModule({
      overrides: { locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasm : prefix + path) },
    });
    const options = { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 };
    return async (frame) => (await window.ZXingWASM.readBarcodes(frame, options))
      .filter((r) => r.isValid).map((r) => r.text);
  }

  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  function grab() {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return null;
    const k = Math.min(1, MAX_SIDE / Math.max(w, h));
    canvas.width = Math.round(w * k);
    canvas.height = Math.round(h * k);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    return context.getImageData(0, 0, canvas.width, canvas.height);
  }

  function halt() {
    clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    scan.classList.remove("live");
    start.hidden = false;
    stop.hidden = true;
  }

  async function tick() {
    timer = null;
    if (!stream) return;
    let texts = [];
    try {
      const frame = grab();
      if (frame) texts = await decode(frame);
    } catch (err) {
      halt();
      say("扫码出错：" + err.message + "。请手动输入券码。");
      return;
    }
    const code = texts.find((t) => CODE.test(t));
    if (code) {
      halt();
      say("已识别，正在查询…");
      form.elements.code.value = code;
      form.submit();
      return;
    }
    if (texts.length) say("这不是优惠券二维码，请对准顾客的券码。");
    if (stream) timer = setTimeout(tick, INTERVAL_MS);
  }

  async function begin() {
    start.hidden = true;
    say("正在打开摄像头…");
    try {
      decode = decode || (await nativeDecoder()) || (await zxingDecoder());
      stream = await navigator.mediaDevices.getUserMedia(
        { video: { facingMode: { ideal: "environment" } }, audio: false });
    } catch (err) {
      halt();
      say(err.name === "NotAllowedError" ? "没有摄像头权限，请在浏览器设置中允许，或手动输入券码。"
        : "无法打开摄像头（" + (err.message || err.name) + "），请手动输入券码。");
      return;
    }
    video.srcObject = stream;
    await video.play().catch(() => {});
    scan.classList.add("live");
    stop.hidden = false;
    say("请将顾客的优惠券二维码放入框内");
    timer = setTimeout(tick, INTERVAL_MS);
  }

  scan.hidden = false;
  start.addEventListener("click", begin);
  stop.addEventListener("click", () => { halt(); say(""); });
  window.addEventListener("pagehide", halt);
})();
