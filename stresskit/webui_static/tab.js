/* Injected into Locust's own page by stresskit.observe.webui: while the "Resources" tab is selected
 * (?tab=stresskit-resources), the tab shows the live charts page (same origin, Locust's look) in
 * an iframe that grows with its content, so the tab reads as one page. */
(function () {
  "use strict";
  var KEY = "stresskit-resources", FRAME_ID = "stresskit-resources-frame";
  function fit(frame) {
    try {
      var doc = frame.contentDocument;
      var height = doc && doc.documentElement ? doc.documentElement.scrollHeight : 0;
      if (height && Math.abs(frame.offsetHeight - height) > 4) frame.style.height = height + "px";
    } catch (e) { /* not loaded yet */ }
  }
  function sync() {
    var active = new URLSearchParams(location.search).get("tab") === KEY;
    var frame = document.getElementById(FRAME_ID);
    if (!active) {
      if (frame) frame.remove();
      return;
    }
    if (frame) { fit(frame); return; }
    var host = document.querySelector("main") || document.getElementById("root") || document.body;
    frame = document.createElement("iframe");
    frame.id = FRAME_ID;
    frame.src = "/stresskit/resources?embed=1";
    frame.title = "stresskit resources";
    frame.style.cssText = "width:100%;height:900px;border:0;display:block;margin-top:16px;overflow:hidden;";
    frame.setAttribute("scrolling", "no");
    host.appendChild(frame);
  }
  setInterval(sync, 500);
  sync();
})();
