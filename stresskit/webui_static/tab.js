/* Injected into Locust's own page by stresskit.webui: while the "Resources" tab is selected
 * (?tab=stresskit-resources), show the live charts page below the tab's table in an iframe. */
(function () {
  "use strict";
  var KEY = "stresskit-resources", FRAME_ID = "stresskit-resources-frame";
  function sync() {
    var active = new URLSearchParams(location.search).get("tab") === KEY;
    var frame = document.getElementById(FRAME_ID);
    if (!active) {
      if (frame) frame.remove();
      return;
    }
    if (frame) return;
    var host = document.querySelector("main") || document.getElementById("root") || document.body;
    frame = document.createElement("iframe");
    frame.id = FRAME_ID;
    frame.src = "/stresskit/resources?embed=1";
    frame.title = "stresskit resources";
    frame.style.cssText = "width:100%;height:1400px;border:0;display:block;margin-top:12px;";
    host.appendChild(frame);
  }
  setInterval(sync, 500);
  sync();
})();
