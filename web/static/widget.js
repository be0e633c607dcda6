/* Switchboard widget loader (placeholder).
 * The real widget lands with the issue "The visitor widget": a tiny loader that
 * creates the launcher and lazily loads the chat UI. Until then this script only
 * keeps the host page's queued Switchboard(...) calls harmless. */
(function (w) {
  "use strict";
  var q = (w.Switchboard && w.Switchboard.q) || [];
  w.Switchboard = function () { q.push(arguments); };
  w.Switchboard.q = q;
  if (w.console && w.console.info) {
    w.console.info("Switchboard: the chat widget is coming soon; the server and API are running.");
  }
})(window);
