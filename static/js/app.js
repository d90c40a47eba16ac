/* Breachline's own glue around htmx (htmx itself comes from django-htmx's static files).
 *
 * 1. Live updates: #live-poll (incident page) and #list-live (list) poll every few seconds
 *    (incidents/live.py). Every other htmx request from the incident page sends the token the
 *    page holds (X-Live-Since), so in-place writes bring others' changes along. Polling pauses
 *    while the tab is hidden. Redrawn panels flash; new items are marked.
 * 2. Nothing typed is lost:
 *    - any swap (a poll, another panel's answer) keeps what the person is typing in the part it
 *      redraws: values, open <details>, focus and caret;
 *    - forms marked data-draft are copied to sessionStorage (this tab only) as they are typed,
 *      put back when the page loads again (after logging in, a reload, a crash) and dropped
 *      once saved.
 * 3. An expired session: an htmx request that meets the login page (HX-Redirect from
 *    incidents/middleware.py, or an XHR that followed the redirect) sends the person to log in
 *    and back to this page instead of drawing the login page inside a panel. A poll that meets
 *    it only says so: the person may be typing.
 * 4. Errors: a 4xx/5xx or a lost connection shows an inline error next to the form (htmx does
 *    not swap them, so the typed text stays).
 * 5. Focus: after an in-place add, on the new item, or on the first error.
 * 6. A <select data-autosubmit> submits its form when changed (no inline handlers: the CSP
 *    refuses them).
 */
(function () {
  "use strict";

  var body = document.body;
  var LOGIN_URL = body.getAttribute("data-login-url") || "/accounts/login/";
  var LOGIN_PATH = new URL(LOGIN_URL, location.href).pathname;
  var DRAFT = "breachline:draft:";
  var SUBMITTED = "breachline:submitted:";
  var POLLERS = ["live-poll", "list-live"];

  function isPoller(elt) {
    return !!elt && POLLERS.indexOf(elt.id) !== -1;
  }

  function pathOf(url) {
    try {
      return new URL(url, location.href).pathname;
    } catch (e) {
      return "";
    }
  }

  function storage() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null; // storage disabled: drafts are off, everything else works
    }
  }

  // --- Form controls ------------------------------------------------------------------------
  var SKIPPED_TYPES = ["submit", "button", "reset", "image", "file", "password"];

  function controlsOf(form) {
    return Array.prototype.filter.call(form.elements, function (control) {
      return control.name && control.name !== "csrfmiddlewaretoken" && SKIPPED_TYPES.indexOf(control.type) === -1;
    });
  }

  function isCheckable(control) {
    return control.type === "checkbox" || control.type === "radio";
  }

  function readControl(control) {
    if (isCheckable(control)) return control.checked;
    if (control.tagName === "SELECT") {
      return Array.prototype.filter.call(control.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
    }
    return control.value;
  }

  function writeControl(control, value) {
    if (isCheckable(control)) {
      control.checked = !!value;
    } else if (control.tagName === "SELECT") {
      Array.prototype.forEach.call(control.options, function (o) { o.selected = value.indexOf(o.value) !== -1; });
    } else {
      control.value = value;
    }
  }

  function isDirty(control) {
    if (isCheckable(control)) return control.checked !== control.defaultChecked;
    if (control.tagName === "SELECT") {
      return Array.prototype.some.call(control.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    if (control.type === "hidden") return false;
    return control.value !== control.defaultValue;
  }

  // A control's identity across redraws: its form's URL and its name (the same on every render).
  function controlKey(control) {
    var form = control.form;
    if (!form) return null;
    return pathOf(form.getAttribute("action") || location.href) + "|" + (control.name || control.type || control.tagName);
  }

  // --- Keeping what is typed across swaps ---------------------------------------------------
  function captureState(root, exceptForm) {
    var state = { values: {}, open: [], focus: null };
    root.querySelectorAll("input, textarea, select").forEach(function (control) {
      if (exceptForm && control.form === exceptForm) return;
      // A file input's value cannot be set by a script (the browser throws): evidence.js carries
      // chosen files across a redraw itself.
      if (control.type === "file") return;
      var key = controlKey(control);
      if (key && isDirty(control)) state.values[key] = readControl(control);
    });
    root.querySelectorAll("details[open]").forEach(function (details) {
      var owner = details.parentElement && details.parentElement.closest("[id]");
      if (owner) state.open.push(owner.id);
    });
    var active = document.activeElement;
    if (active && active !== body && root.contains(active) && !(exceptForm && active.form === exceptForm)) {
      state.focus = {
        key: controlKey(active),
        start: typeof active.selectionStart === "number" ? active.selectionStart : null,
        end: typeof active.selectionEnd === "number" ? active.selectionEnd : null,
      };
    }
    return state;
  }

  function restoreState(root, state) {
    if (!root) return;
    root.querySelectorAll("input, textarea, select").forEach(function (control) {
      var key = controlKey(control);
      if (key && Object.prototype.hasOwnProperty.call(state.values, key) && !isDirty(control)) {
        writeControl(control, state.values[key]);
      }
    });
    state.open.forEach(function (id) {
      var owner = document.getElementById(id);
      var details = owner && owner.querySelector("details");
      if (details && root.contains(details)) details.open = true;
    });
    if (state.focus && state.focus.key) {
      var again = Array.prototype.find.call(root.querySelectorAll("input, textarea, select, button"), function (c) {
        return controlKey(c) === state.focus.key;
      });
      if (again) {
        again.focus({ preventScroll: true });
        if (state.focus.start !== null && typeof again.setSelectionRange === "function") {
          try {
            again.setSelectionRange(state.focus.start, state.focus.end);
          } catch (e) { /* not a text control */ }
        }
      }
    }
  }

  function itemIds(root) {
    return root ? Array.prototype.map.call(root.querySelectorAll("li[id]"), function (li) { return li.id; }) : [];
  }

  function keepDuringSwap(target, exceptForm, onAfter) {
    var id = target.id;
    var state = captureState(target, exceptForm);
    var before = itemIds(target);
    // The swap runs synchronously after this event; the microtask runs once it is done.
    queueMicrotask(function () {
      var root = (id && document.getElementById(id)) || target;
      restoreState(root, state);
      if (onAfter) onAfter(root, before);
    });
  }

  function markNew(root, before) {
    itemIds(root).forEach(function (id) {
      if (before.indexOf(id) === -1) document.getElementById(id).classList.add("is-new");
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var source = sourceOf(event);
    if (!detail.shouldSwap || !detail.target || isPoller(source)) return;
    var form = source && source.closest ? source.closest("form") : null;
    keepDuringSwap(detail.target, form, null);
  });

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target) return;
    keepDuringSwap(target, null, function (root, before) {
      if (!root || target.id === "live-status" || isPoller(target)) return;
      markNew(root, before);
      var panel = root.closest("section, .heading") || root;
      panel.classList.remove("live-flash");
      void panel.offsetWidth; // restart the animation
      panel.classList.add("live-flash");
    });
  });

  // --- Drafts -------------------------------------------------------------------------------
  function draftKey(form) {
    return pathOf(form.getAttribute("action") || location.href);
  }

  function draftForms() {
    return Array.prototype.slice.call(document.querySelectorAll("form[data-draft]"));
  }

  function snapshot(form) {
    var fields = {};
    controlsOf(form).forEach(function (control) {
      (fields[control.name] = fields[control.name] || []).push(readControl(control));
    });
    return fields;
  }

  function saveDraft(form) {
    var store = storage();
    if (!store) return;
    var typed = controlsOf(form).some(function (control) { return control.type !== "hidden" && isDirty(control); });
    try {
      if (typed) {
        store.setItem(DRAFT + draftKey(form), JSON.stringify({ at: Date.now(), fields: snapshot(form) }));
      } else {
        store.removeItem(DRAFT + draftKey(form));
      }
    } catch (e) { /* full or disabled: the form itself still holds the text */ }
  }

  function dropDraft(key) {
    var store = storage();
    if (!store) return;
    store.removeItem(DRAFT + key);
    store.removeItem(SUBMITTED + key);
  }

  function restoreDraft(form) {
    var store = storage();
    var raw = store && store.getItem(DRAFT + draftKey(form));
    if (!raw) return false;
    var draft;
    try {
      draft = JSON.parse(raw);
    } catch (e) {
      dropDraft(draftKey(form));
      return false;
    }
    var changed = false;
    var seen = {};
    controlsOf(form).forEach(function (control) {
      var values = draft.fields[control.name];
      var index = seen[control.name] = (seen[control.name] || 0) + 1;
      if (!values || values.length < index) return;
      var value = values[index - 1];
      if (JSON.stringify(readControl(control)) !== JSON.stringify(value)) {
        writeControl(control, value);
        changed = true;
      }
    });
    if (!changed) return false;
    var details = form.closest("details");
    if (details) details.open = true;
    var note = document.createElement("p");
    note.className = "draft-note";
    note.setAttribute("role", "status");
    note.textContent = "Restored what you typed earlier in this tab. It is not saved yet. ";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "link";
    discard.textContent = "Discard it";
    discard.addEventListener("click", function () {
      dropDraft(draftKey(form));
      location.reload();
    });
    note.appendChild(discard);
    form.insertBefore(note, form.firstChild);
    return true;
  }

  function settleSubmittedDrafts() {
    // A plain (non-htmx) form was posted: if the page that came back holds that form again
    // (errors, a conflict) or is the login page, keep its draft; anywhere else it was saved.
    var store = storage();
    if (!store) return;
    var onPage = draftForms().map(draftKey);
    var atLogin = body.hasAttribute("data-login-page");
    for (var i = store.length - 1; i >= 0; i--) {
      var name = store.key(i);
      if (!name || name.indexOf(SUBMITTED) !== 0) continue;
      var key = name.slice(SUBMITTED.length);
      if (!atLogin && onPage.indexOf(key) === -1) dropDraft(key);
    }
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form[data-draft]");
    if (form) saveDraft(form);
  });
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-draft]");
    if (form) saveDraft(form);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-draft]") || form.hasAttribute("hx-post")) return;
    saveDraft(form);
    var store = storage();
    if (store) store.setItem(SUBMITTED + draftKey(form), "1");
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-discard-draft]");
    if (link) dropDraft(pathOf(link.getAttribute("data-discard-draft")));
  });

  // --- Expired sessions and lost access -----------------------------------------------------
  function loginRedirectOf(xhr) {
    var header = xhr.getResponseHeader("HX-Redirect");
    if (header && pathOf(header) === LOGIN_PATH) return header;
    if (xhr.responseURL && pathOf(xhr.responseURL) === LOGIN_PATH) {
      // The XHR followed Django's redirect: its ``next`` is the endpoint, not this page.
      return LOGIN_URL + "?next=" + encodeURIComponent(location.pathname + location.search);
    }
    return null;
  }

  function banner(id, kind, text, link) {
    if (document.getElementById(id)) return;
    var box = document.createElement("div");
    box.id = id;
    box.className = "banner live-banner " + kind;
    box.setAttribute("role", "alert");
    box.appendChild(document.createTextNode(text + " "));
    if (link) {
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      box.appendChild(a);
    }
    var main = document.getElementById("content") || body;
    main.insertBefore(box, main.firstChild);
  }

  function stopPolling() {
    POLLERS.forEach(function (id) {
      var poller = document.getElementById(id);
      if (poller) poller.parentNode.removeChild(poller); // htmx stops polling detached elements
    });
  }

  // Capture phase on window: before htmx acts on the response, and before django-htmx's debug
  // handler (DEBUG only) replaces the page with an error page.
  window.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    var elt = event.detail.elt;
    var login = loginRedirectOf(xhr);
    if (login) {
      event.preventDefault();
      event.stopPropagation();
      if (isPoller(elt)) {
        stopPolling();
        banner("session-expired", "warning", "Your session has expired, so this page stopped updating. Anything you type here is kept.",
          { href: LOGIN_URL + "?next=" + encodeURIComponent(location.pathname + location.search), text: "Log in again" });
      } else {
        draftForms().forEach(saveDraft);
        location.assign(login);
      }
      return;
    }
    if (isPoller(elt) && (xhr.status === 404 || xhr.status === 403)) {
      event.preventDefault();
      event.stopPropagation();
      stopPolling();
      banner("live-gone", "warning", "This incident is no longer available to you, so this page stopped updating.",
        { href: "/incidents/", text: "All incidents" });
    }
  }, true);

  // --- Errors beside the form ---------------------------------------------------------------
  function errorText(xhr) {
    var status = xhr ? xhr.status : 0;
    if (!status) return "Not sent: Breachline could not be reached. What you typed is still here; try again.";
    if (status === 403 && /CSRF/.test(xhr.responseText || "")) {
      return "Not saved: this page is out of date (its security token expired). Reload it; what you typed is kept.";
    }
    var known = {
      400: "Not saved: the server could not read this form (400). Reload the page; what you typed is kept.",
      403: "Not saved: you may not do this on this incident (403).",
      404: "Not saved: this incident is no longer available to you (404).",
      409: "Not saved: the incident changed meanwhile (409). Reload to see it; what you typed is kept.",
      413: "Not saved: this is too large to send (413).",
      429: "Not saved: too many requests (429). Wait a moment and try again.",
    };
    if (known[status]) return known[status];
    if (status >= 500) return "Not saved: the server failed (" + status + "). What you typed is still here; try again in a moment.";
    return "Not saved: the server answered " + status + ". What you typed is still here.";
  }

  function clearInlineError(form) {
    var host = errorHost(form);
    var old = host && host.querySelector(":scope > .live-error");
    if (old) old.parentNode.removeChild(old);
  }

  function errorHost(form) {
    if (form.matches("[data-draft], .add-form")) return form;
    var item = form.closest("li");
    return (item && (item.querySelector(".task-body") || item)) || form.parentElement;
  }

  function showInlineError(elt, xhr) {
    var form = elt.closest ? elt.closest("form") || elt : elt;
    if (!form || !form.isConnected) return;
    clearInlineError(form);
    var message = document.createElement("p");
    message.className = "error live-error";
    message.setAttribute("role", "alert");
    message.textContent = errorText(xhr);
    errorHost(form).appendChild(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    if (!isPoller(sourceOf(event))) showInlineError(sourceOf(event), event.detail.xhr);
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (!isPoller(sourceOf(event))) showInlineError(sourceOf(event), null);
  });
  document.addEventListener("htmx:timeout", function (event) {
    if (!isPoller(sourceOf(event))) showInlineError(sourceOf(event), null);
  });

  // --- Requests: the page's token, busy forms, paused polling -------------------------------
  document.addEventListener("htmx:configRequest", function (event) {
    var poll = document.getElementById("live-poll");
    if (poll && !isPoller(event.detail.elt)) event.detail.headers["X-Live-Since"] = poll.getAttribute("data-live-since");
  });

  var pending = new WeakMap();

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (isPoller(elt)) {
      if (document.hidden) event.preventDefault();
      return;
    }
    var form = elt.closest ? elt.closest("form") : null;
    if (!form) return;
    clearInlineError(form);
    form.setAttribute("aria-busy", "true");
    var target = form.getAttribute("hx-target");
    pending.set(form, { target: target, before: itemIds(target && document.querySelector(target)) });
  });

  // The element that made a request. Events about it may be dispatched elsewhere: htmx fires
  // beforeSwap on the target, and afterRequest on an ancestor when the swap replaced the form.
  function sourceOf(event) {
    return (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = sourceOf(event);
    if (isPoller(elt)) return;
    var form = elt.closest ? elt.closest("form") || elt : elt;
    form.removeAttribute("aria-busy");
    var sent = pending.get(form);
    pending.delete(form);
    // ``successful`` is set only once htmx has handled the answer: not when app.js sent the
    // person to log in instead (the draft must survive that), nor for errors.
    if (!sent || event.detail.successful !== true) return;
    var key = form.matches("form[data-draft]") ? draftKey(form) : null;
    // After the swaps and after restoreState's microtask.
    queueMicrotask(function () {
      queueMicrotask(function () { focusAfterWrite(sent, key); });
    });
  });

  function focusAfterWrite(sent, key) {
    var panel = sent.target && document.querySelector(sent.target);
    if (!panel) return;
    var again = key && Array.prototype.find.call(panel.querySelectorAll("form[data-draft]"), function (f) {
      return draftKey(f) === key;
    });
    if (again && again.querySelector(".error")) {
      var invalid = again.querySelector(".invalid input, .invalid textarea, .invalid select") || again.querySelector(".error");
      if (invalid.matches("p")) invalid.setAttribute("tabindex", "-1");
      invalid.focus();
      return; // not saved: keep the draft
    }
    if (key) dropDraft(key);
    var fresh = itemIds(panel).filter(function (id) { return sent.before.indexOf(id) === -1; });
    if (fresh.length) {
      var item = document.getElementById(fresh[fresh.length - 1]);
      item.classList.add("is-new");
      item.setAttribute("tabindex", "-1");
      item.focus();
      return;
    }
    var refused = panel.querySelector(".error[role=alert]"); // e.g. a refused status change or note
    if (refused) {
      refused.setAttribute("tabindex", "-1");
      refused.focus();
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) return;
    POLLERS.forEach(function (id) {
      var poller = document.getElementById(id);
      if (poller) window.htmx.trigger(poller, "live:poll");
    });
  });

  // --- On load ------------------------------------------------------------------------------
  settleSubmittedDrafts();
  draftForms().forEach(restoreDraft);
})();

// 6. Selects that submit their form when changed (a member's role, a vendor's role).
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});
