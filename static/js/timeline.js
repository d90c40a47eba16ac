/* The timeline page (templates/timeline/page.html): let htmx swap in the forms the server sends
   back with a 400 (field errors) or a 409 (a stale edit), which htmx does not swap by default,
   so the person sees the message in the form they typed in. Other errors keep app.js's
   inline message. Also the key-events view's Print button. */
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var status = detail.xhr ? detail.xhr.status : 0;
    if (status !== 400 && status !== 409) return;
    var elt = detail.requestConfig ? detail.requestConfig.elt : detail.elt;
    if (!elt || !elt.closest || !elt.closest("form.event-form")) return;
    detail.shouldSwap = true;
    detail.isError = false;
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) window.print();
  });
})();
