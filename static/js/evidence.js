/* The evidence panel (templates/incidents/_evidence.html).
 *
 * 1. Copy a full hash to the clipboard (the short one is shown, the full one on hover).
 * 2. The upload form, enhanced (without this script it is a plain multi-file form, sent by htmx
 *    or as a normal POST):
 *    - its file field becomes a drop zone; files dragged over the evidence panel open the form,
 *      and dropping them adds them to the chosen files. Dropping does not send them: the form's
 *      other fields (malware, privileged, internal, …) describe every file and must be set
 *      before the bytes leave, so sending stays the Upload button's job;
 *    - on submit, each file goes in its own XMLHttpRequest (XHR reports upload progress, fetch
 *      does not) to the form's action with the form's other fields and CSRF token, asking for
 *      JSON (incidents/evidence/views.py: 201 {"evidence": [...]}, 400/403/413 {"errors": {...}}).
 *      At most CONCURRENT at a time; each file has its own row: name, size, a <progress> bar,
 *      then its SHA-256 or the reason it was not saved (with Retry when trying again can help);
 *    - once none is left running, the page's live poll (static/js/app.js, incidents/live.py) is
 *      asked to run now: it redraws the evidence list and the activity panel, marking new items.
 *    The rows and the status line live in this script, not in the panel: when htmx replaces the
 *    panel (another write in it), they are moved into the new form, with the chosen files.
 */
(function () {
  "use strict";

  // --- Copying a hash -----------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-copy")).then(function () {
      var label = button.textContent;
      button.textContent = "copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // --- Uploads ------------------------------------------------------------------------------
  var FORM = "form.evidence-upload";
  var PANEL = "#evidence-panel";
  // Two at a time: a small file is not stuck behind a large one, and the server is not asked to
  // hash every file of a large drop at once.
  var CONCURRENT = 2;
  var SHORT_HASH = 12; // as the evidence list shows it
  var LOGIN_URL = document.body.getAttribute("data-login-url") || "/accounts/login/";

  if (!window.FormData || !window.XMLHttpRequest || !("upload" in new XMLHttpRequest())) return;

  var waiting = []; // uploads not started yet, in the order chosen
  var running = 0;
  var tally = { saved: 0, failed: 0 }; // since the uploads last went idle
  var list = null; // <ol> of rows, one per file: moved into the form again after a panel swap
  var status = null; // the status line, an aria-live region
  var input = null; // the enhanced form's file input (with the files chosen)
  var counter = 0;

  function pathOf(url) {
    try {
      return new URL(url, location.href).pathname;
    } catch (e) {
      return "";
    }
  }

  // Django's filesizeformat, so a row reads like the evidence list.
  function sizeText(bytes) {
    if (bytes < 1024) return bytes + (bytes === 1 ? " byte" : " bytes");
    var units = ["KB", "MB", "GB", "TB"];
    var value = bytes / 1024;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit++;
    }
    return value.toFixed(1) + "\u00a0" + units[unit];
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function announce(text) {
    if (status) status.textContent = text;
  }

  function fileInputOf(form) {
    return form.querySelector('input[type="file"][name="file"]');
  }

  // --- The form: drop zone, rows, status line (again after each panel swap) -----------------
  function enhance(form) {
    if (!form || form.hasAttribute("data-uploader")) return;
    var fresh = fileInputOf(form);
    if (!fresh) return;
    form.setAttribute("data-uploader", "");
    // The panel was replaced while files were chosen: keep them (the new input is empty, and
    // app.js would otherwise try to write the old path into it).
    if (input && !input.isConnected && input.files && input.files.length) {
      fresh.parentNode.replaceChild(input, fresh);
      fresh = input;
    }
    input = fresh;

    var zone = input.closest(".field") || input.parentNode;
    zone.classList.add("dropzone");
    zone.setAttribute("role", "region");
    zone.setAttribute("aria-label", "Files to upload: drop them here or choose them");
    var hint = element("p", "dropzone-hint");
    hint.id = "evidence-dropzone-hint";
    hint.appendChild(element("strong", "", "Drop files here"));
    hint.appendChild(document.createTextNode(" or choose them. Each is sent on its own, with its progress shown."));
    input.insertAdjacentElement("afterend", hint);
    input.setAttribute("aria-describedby", hint.id);
    hint.insertAdjacentElement("afterend", element("p", "dropzone-chosen"));

    if (!status) {
      status = element("p", "upload-status");
      status.setAttribute("role", "status"); // polite: progress is shown, the outcomes are read
    }
    if (!list) {
      list = element("ol", "upload-list");
      list.setAttribute("aria-label", "Uploads");
    }
    // Below the Upload button, where the eye is after pressing it.
    var actions = form.querySelector(".actions") || zone;
    actions.insertAdjacentElement("afterend", status);
    status.insertAdjacentElement("afterend", list);
    showChosen(form);
    if (list.children.length || (input.files && input.files.length)) {
      var details = form.closest("details");
      if (details) details.open = true;
    }
  }

  function enhanceAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches(FORM)) enhance(scope);
    scope.querySelectorAll(FORM).forEach(enhance);
  }

  function showChosen(form) {
    var line = form.querySelector(".dropzone-chosen");
    var files = input ? Array.prototype.slice.call(input.files || []) : [];
    if (!line) return;
    line.textContent = files.length
      ? (files.length === 1 ? "1 file chosen: " : files.length + " files chosen: ") +
        files.map(function (file) { return file.name + " (" + sizeText(file.size) + ")"; }).join(", ")
      : "";
    line.hidden = !files.length;
  }

  // Adds dropped files to those already chosen (the input stays what the form sends).
  function addFiles(form, dropped) {
    var chosen = fileInputOf(form);
    if (!chosen || !dropped.length) return;
    try {
      var all = new DataTransfer();
      Array.prototype.forEach.call(chosen.files, function (file) { all.items.add(file); });
      Array.prototype.forEach.call(dropped, function (file) { all.items.add(file); });
      chosen.files = all.files;
    } catch (e) {
      chosen.files = dropped; // no DataTransfer constructor: the drop replaces the choice
    }
    showChosen(form);
    announce(chosen.files.length === 1 ? "1 file ready: press Upload to send it."
      : chosen.files.length + " files ready: press Upload to send them.");
  }

  function clearChosen(form) {
    var chosen = fileInputOf(form);
    if (chosen) chosen.value = "";
    showChosen(form);
  }

  // --- Rows -----------------------------------------------------------------------------------
  function makeRow(upload) {
    var row = element("li", "upload is-waiting");
    var line = element("div", "upload-line");
    line.appendChild(element("span", "upload-name", upload.file.name));
    line.appendChild(element("span", "upload-size", sizeText(upload.file.size)));
    upload.state = element("span", "upload-state", "Waiting");
    line.appendChild(upload.state);
    upload.button = element("button", "link upload-action");
    upload.button.type = "button";
    line.appendChild(upload.button);
    row.appendChild(line);
    upload.bar = element("progress", "upload-bar", "0%");
    upload.bar.max = 100;
    upload.bar.value = 0;
    upload.bar.setAttribute("aria-label", "Upload of " + upload.file.name);
    row.appendChild(upload.bar);
    upload.result = element("p", "upload-result");
    upload.result.hidden = true;
    row.appendChild(upload.result);
    upload.row = row;
    setButton(upload, "Cancel", function () { cancel(upload); });
    return row;
  }

  function setButton(upload, label, action) {
    upload.button.hidden = !label;
    upload.button.textContent = label || "";
    upload.button.setAttribute("aria-label", label ? label + " " + upload.file.name : "");
    upload.button.onclick = action || null;
  }

  function setPhase(upload, phase, stateText) {
    upload.row.className = "upload is-" + phase;
    upload.state.textContent = stateText;
  }

  function setProgress(upload, fraction) {
    // 100% only once the server has answered: the last bytes sent still have to be hashed.
    var percent = Math.min(99, Math.floor(fraction * 100));
    upload.bar.value = percent;
    upload.bar.textContent = percent + "%";
    upload.state.textContent = percent + "%";
  }

  // --- Sending --------------------------------------------------------------------------------
  // The form's other fields as they were when Upload was pressed: later changes to the form
  // describe the next files, not these.
  function fieldsOf(form) {
    var pairs = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "file" && typeof value === "string") pairs.push([name, value]);
    });
    return pairs;
  }

  // The current token: a panel swap or a new log-in may have changed it since Upload.
  function csrfToken(upload) {
    var field = document.querySelector(FORM + ' input[name="csrfmiddlewaretoken"]');
    if (field) return field.value;
    var kept = upload.fields.filter(function (pair) { return pair[0] === "csrfmiddlewaretoken"; })[0];
    return kept ? kept[1] : "";
  }

  function enqueue(form, files) {
    var fields = fieldsOf(form);
    var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
    // Rows of earlier uploads that are over make way for the new ones.
    Array.prototype.slice.call(list.children).forEach(function (row) {
      if (!/\bis-(waiting|sending|saving)\b/.test(row.className)) list.removeChild(row);
    });
    var queued = 0;
    files.forEach(function (file) {
      var upload = { id: ++counter, file: file, action: form.action, fields: fields };
      list.appendChild(makeRow(upload));
      if (limit && file.size > limit) {
        // Refused here rather than after sending it all: the server would refuse it too.
        fail(upload, "Not sent: it is larger than the " + sizeText(limit) + " limit (" +
          limit.toLocaleString("en") + " bytes).", false);
        return;
      }
      waiting.push(upload);
      queued++;
    });
    announce(queued === 1 ? "Uploading 1 file." : queued ? "Uploading " + queued + " files." : "Nothing was sent.");
    pump();
  }

  function pump() {
    while (running < CONCURRENT && waiting.length) send(waiting.shift());
    if (!running && !waiting.length) finished();
  }

  function send(upload) {
    var data = new FormData();
    upload.fields.forEach(function (pair) {
      if (pair[0] !== "csrfmiddlewaretoken") data.append(pair[0], pair[1]);
    });
    var token = csrfToken(upload);
    data.append("csrfmiddlewaretoken", token);
    data.append("file", upload.file, upload.file.name);

    var xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    running++;
    setPhase(upload, "sending", "0%");
    setProgress(upload, 0);
    setButton(upload, "Cancel", function () { xhr.abort(); });
    xhr.open("POST", upload.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable && event.total) setProgress(upload, event.loaded / event.total);
    });
    xhr.upload.addEventListener("load", function () {
      if (upload.xhr === xhr) {
        setProgress(upload, 1);
        setPhase(upload, "saving", "Saving…");
      }
    });
    xhr.addEventListener("load", function () { settle(upload, xhr); });
    xhr.addEventListener("error", function () {
      done(upload, function () {
        fail(upload, "Not saved: Breachline could not be reached (the connection failed).", true);
      });
    });
    xhr.addEventListener("abort", function () {
      done(upload, function () { fail(upload, "Cancelled: not saved.", true, "Cancelled"); });
    });
    xhr.send(data);
  }

  function done(upload, then) {
    upload.xhr = null;
    running--;
    then();
    pump();
  }

  function settle(upload, xhr) {
    done(upload, function () {
      if (pathOf(xhr.responseURL) === pathOf(LOGIN_URL)) {
        // Django's redirect to the log-in page, followed by the XHR: the session expired.
        fail(upload, "Not saved: your session has expired. Log in again (reload this page), then upload it again.", false);
        return;
      }
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) { /* an error page, not the view's JSON */ }
      var saved = xhr.status === 201 && body && body.evidence && body.evidence[0];
      if (saved) {
        succeed(upload, saved);
      } else {
        fail(upload, errorText(xhr, body), xhr.status >= 500 || xhr.status === 429);
      }
    });
  }

  function succeed(upload, saved) {
    tally.saved++;
    setPhase(upload, "done", "Saved");
    upload.bar.value = 100;
    upload.bar.textContent = "100%";
    setButton(upload, null);
    upload.result.textContent = "SHA-256 ";
    var hash = element("code", "hash", saved.sha256.slice(0, SHORT_HASH) + "…");
    hash.title = saved.sha256;
    upload.result.appendChild(hash);
    upload.result.hidden = false;
    announce("“" + upload.file.name + "” saved, SHA-256 " + saved.sha256.slice(0, SHORT_HASH) + ".");
  }

  function fail(upload, message, retry, stateText) {
    tally.failed++;
    upload.tally = tally;
    setPhase(upload, "failed", stateText || "Not saved");
    upload.result.textContent = message;
    upload.result.className = "upload-result error";
    upload.result.hidden = false;
    setButton(upload, retry ? "Retry" : null, retry ? function () { again(upload); } : null);
    announce("“" + upload.file.name + "”: " + message);
  }

  function again(upload) {
    if (upload.tally === tally) tally.failed--; // else counted in a round already announced
    upload.result.hidden = true;
    upload.result.className = "upload-result";
    upload.bar.value = 0;
    setPhase(upload, "waiting", "Waiting");
    setButton(upload, "Cancel", function () { cancel(upload); });
    waiting.push(upload);
    announce("Uploading “" + upload.file.name + "” again.");
    pump();
  }

  function cancel(upload) {
    var at = waiting.indexOf(upload);
    if (at !== -1) {
      waiting.splice(at, 1);
      fail(upload, "Cancelled: not sent.", true, "Cancelled");
      pump();
    }
  }

  // What the view said (its messages, by field), else what the status means.
  function errorText(xhr, body) {
    if (body && body.errors) {
      var lines = [];
      Object.keys(body.errors).forEach(function (field) {
        var label = field === "__all__" || field === "file" ? "" : fieldLabel(field);
        body.errors[field].forEach(function (message) { lines.push(label ? label + ": " + message : message); });
      });
      if (lines.length) return lines.join(" ");
    }
    var status = xhr.status;
    if (status === 403 && /CSRF/.test(xhr.responseText || "")) {
      return "Not saved: this page is out of date (its security token expired). Reload it, then upload again.";
    }
    var known = {
      400: "Not saved: the server could not read this upload (400).",
      403: "Not saved: you may not add evidence to this incident (403).",
      404: "Not saved: this incident is no longer available to you (404).",
      413: "Not saved: this file is too large to send (413).",
      429: "Not saved: too many requests (429). Wait a moment and retry.",
    };
    if (known[status]) return known[status];
    if (status >= 500) return "Not saved: the server failed (" + status + "). Retry in a moment.";
    return "Not saved: the server answered " + status + ".";
  }

  function fieldLabel(name) {
    var control = document.querySelector(FORM + ' [name="' + name + '"]');
    var label = control && control.labels && control.labels[0];
    return label ? label.textContent.trim() : name;
  }

  function finished() {
    if (!tally.saved && !tally.failed) return;
    var saved = tally.saved === 1 ? "1 file saved" : tally.saved + " files saved";
    var failed = tally.saved ? tally.failed + " not saved" : (tally.failed === 1 ? "1 file" : tally.failed + " files") + " not saved";
    announce(!tally.failed ? saved + "." : tally.saved ? saved + ", " + failed + "." : failed + ".");
    if (tally.saved) refreshPanel();
    tally = { saved: 0, failed: 0 };
  }

  // The live poll redraws what changed (the evidence list, its count, the activity panel) and
  // moves the page's token on; without it (it stops when the session expires) the list is read
  // from the page again.
  function refreshPanel() {
    var poll = document.getElementById("live-poll");
    if (poll && window.htmx) {
      window.htmx.trigger(poll, "live:poll");
      return;
    }
    var request = new XMLHttpRequest();
    request.open("GET", location.href);
    request.responseType = "document";
    request.addEventListener("load", function () {
      var page = request.response;
      if (request.status !== 200 || !page) return;
      ["evidence-count", "evidence-export", "evidence-list"].forEach(function (id) {
        var now = document.getElementById(id);
        var then = page.getElementById(id);
        if (now && then) now.innerHTML = then.innerHTML;
      });
    });
    request.send();
  }

  // --- Events (delegated: the panel is redrawn by htmx) ------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches(FORM) || !form.hasAttribute("data-uploader")) return;
    var chosen = fileInputOf(form);
    if (!chosen || !chosen.files || !chosen.files.length) return; // htmx or the browser says why
    // Capture phase on the document: before htmx's own listener on the form.
    event.preventDefault();
    event.stopPropagation();
    enqueue(form, Array.prototype.slice.call(chosen.files));
    clearChosen(form);
  }, true);

  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (event.target === input && form && form.matches(FORM)) showChosen(form);
  });

  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") !== -1;
  }

  function uploadForm() {
    var form = document.querySelector(PANEL + " " + FORM);
    return form && form.hasAttribute("data-uploader") ? form : null;
  }

  function highlight(on) {
    document.querySelectorAll(".dropzone.is-dragover").forEach(function (zone) { zone.classList.remove("is-dragover"); });
    var form = on && uploadForm();
    var zone = form && form.querySelector(".dropzone");
    if (zone) zone.classList.add("is-dragover");
  }

  // Files dragged over the evidence panel: open the upload form and take them anywhere in the
  // panel. Anywhere else on the page, the drop is refused: the browser would leave the page to
  // show the file.
  document.addEventListener("dragover", function (event) {
    if (!carriesFiles(event) || !uploadForm()) return;
    var target = event.target.closest ? event.target : event.target.parentElement;
    if (target && target.matches('input[type="file"]') && target !== input) return;
    event.preventDefault();
    var inPanel = !!(target && target.closest(PANEL));
    event.dataTransfer.dropEffect = inPanel ? "copy" : "none";
    if (inPanel) {
      var details = uploadForm().closest("details");
      if (details && !details.open) details.open = true;
    }
    highlight(inPanel);
  });

  document.addEventListener("dragleave", function (event) {
    // Leaving the window (no element under the pointer any more).
    if (!event.relatedTarget) highlight(false);
  });

  document.addEventListener("drop", function (event) {
    if (!carriesFiles(event) || !uploadForm()) return;
    var target = event.target.closest ? event.target : event.target.parentElement;
    if (target && target.matches('input[type="file"]') && target !== input) return;
    event.preventDefault();
    highlight(false);
    if (target && target.closest(PANEL)) addFiles(uploadForm(), event.dataTransfer.files);
  });

  document.addEventListener("dragend", function () { highlight(false); });

  // Leaving the page would stop the uploads still running.
  window.addEventListener("beforeunload", function (event) {
    if (!running && !waiting.length) return;
    event.preventDefault();
    event.returnValue = "";
  });

  document.addEventListener("htmx:afterSwap", function (event) { enhanceAll(event.target); });
  document.addEventListener("htmx:oobAfterSwap", function (event) { enhanceAll(event.target); });
  enhanceAll(document);
})();
