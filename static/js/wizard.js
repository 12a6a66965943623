// The distribution wizard's enhancements; every step also works without this file.
// - the email body textarea becomes a Quill editor (vendored in static/vendor/quill); the
//   textarea stays in the form, hidden, and always holds the editor's HTML;
// - the merge-tag menu inserts a tag at the cursor of the field last used in its panel;
// - the SMS counter counts characters and segments with apps/messaging/sms.py's rules (the
//   form carries that module's GSM-7 tables in data attributes);
// - a form marked data-once disables its buttons once submitted (Launch sends once).
(function () {
  "use strict";

  var TOOLBAR = [[{ header: [1, 2, false] }], ["bold", "italic", "underline"], ["link"],
    [{ list: "ordered" }, { list: "bullet" }], ["clean"]];

  // Quill escapes quotes and angle brackets and turns spaces into &nbsp;; inside a merge tag
  // that would no longer be a template ({{ voucher.expiration_date|date:"j F Y" }}).
  function cleanHtml(quill) {
    if (quill.getText().trim() === "") { return ""; }
    var html = quill.getSemanticHTML().replace(/&nbsp;/g, " ");
    return html.replace(/\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g, function (tag) {
      var box = document.createElement("textarea");
      box.innerHTML = tag;
      return box.value;
    });
  }

  function initEditor(textarea) {
    if (!window.Quill || textarea.dataset.editorReady) { return; }
    textarea.dataset.editorReady = "1";
    var wrap = document.createElement("div");
    wrap.className = "editor-wrap";
    if (textarea.getAttribute("aria-invalid") === "true") { wrap.classList.add("is-invalid"); }
    var host = document.createElement("div");
    wrap.appendChild(host);
    textarea.insertAdjacentElement("afterend", wrap);
    textarea.hidden = true;
    var quill = new window.Quill(host, { theme: "snow", modules: { toolbar: TOOLBAR } });
    quill.setContents(quill.clipboard.convert({ html: textarea.value }), "silent");
    var root = quill.root;
    var label = document.querySelector('label[for="' + textarea.id + '"]');
    if (label) {
      label.id = label.id || textarea.id + "_label";
      root.setAttribute("aria-labelledby", label.id);
      label.addEventListener("click", function () { quill.focus(); });
    }
    root.setAttribute("role", "textbox");
    root.setAttribute("aria-multiline", "true");
    if (textarea.getAttribute("aria-describedby")) {
      root.setAttribute("aria-describedby", textarea.getAttribute("aria-describedby"));
    }
    if (textarea.getAttribute("aria-invalid")) { root.setAttribute("aria-invalid", "true"); }
    root.dataset.testid = "editor-" + textarea.name;
    root.setAttribute("data-testid", "editor-" + textarea.name);
    quill.on("text-change", function () {
      textarea.value = cleanHtml(quill);
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
    });
    quill.on("selection-change", function (range) {
      if (range) { panelOf(textarea).wizardTarget = { quill: quill }; }
    });
    textarea.wizardQuill = quill;
  }

  function panelOf(el) { return el.closest("[data-merge-panel]") || document.body; }

  function insertTag(panel, tag) {
    var target = panel.wizardTarget;
    if (!target) {
      // Nothing used yet: the message body (editor or text), else the first text field.
      var body = panel.querySelector("textarea");
      target = body && body.wizardQuill ? { quill: body.wizardQuill } : { field: body || panel.querySelector("input[type=text]") };
    }
    if (target.quill) {
      var range = target.quill.getSelection(true);
      target.quill.insertText(range.index, tag, "user");
      target.quill.setSelection(range.index + tag.length, 0, "user");
      return;
    }
    var field = target.field;
    if (!field) { return; }
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    field.setRangeText(tag, start, end, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function initMergeMenu(menu) {
    if (menu.dataset.ready) { return; }
    menu.dataset.ready = "1";
    menu.hidden = false;
    var select = menu.querySelector("[data-merge-select]");
    var panel = panelOf(menu);
    panel.addEventListener("focusin", function (event) {
      var el = event.target;
      if (el.matches("input[type=text], textarea:not([hidden])")) { panel.wizardTarget = { field: el }; }
    });
    select.addEventListener("change", function () {
      var tag = select.value;
      var option = select.selectedOptions[0];
      select.value = "";
      if (!tag) { return; }
      if (option && option.dataset.needsKey) {
        var key = window.prompt("Which metadata key? (letters, digits and _)", "");
        if (!key || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) { return; }
        tag = tag.replace(".key ", "." + key + " ");
      }
      insertTag(panel, tag);
    });
  }

  // --- SMS counter (mirrors apps/messaging/sms.py) ---
  function smsCount(text, basic, extended) {
    var gsm = true;
    var chars = Array.from(text);
    for (var i = 0; i < chars.length; i++) {
      if (basic.indexOf(chars[i]) < 0 && extended.indexOf(chars[i]) < 0) { gsm = false; break; }
    }
    var length = 0;
    chars.forEach(function (c) {
      if (gsm) { length += extended.indexOf(c) >= 0 ? 2 : 1; }
      else { length += c.codePointAt(0) > 0xFFFF ? 2 : 1; }
    });
    var single = gsm ? 160 : 70;
    var multi = gsm ? 153 : 67;
    var segments = length === 0 ? 0 : (length <= single ? 1 : Math.ceil(length / multi));
    return { characters: length, segments: segments, encoding: gsm ? "GSM-7" : "UCS-2" };
  }

  function initSmsCounter(textarea) {
    if (textarea.dataset.counterReady) { return; }
    textarea.dataset.counterReady = "1";
    var form = textarea.closest("form");
    var output = document.querySelector('[data-sms-count-for="' + textarea.id + '"]');
    if (!form || !output) { return; }
    var basic = form.dataset.gsmBasic || "";
    var extended = form.dataset.gsmExtended || "";
    function update() {
      var count = smsCount(textarea.value.trim(), basic, extended);
      output.textContent = count.characters + " character" + (count.characters === 1 ? "" : "s") +
        " · " + count.segments + " segment" + (count.segments === 1 ? "" : "s") +
        " (" + count.encoding + ")";
      output.classList.toggle("is-long", count.segments > 1);
    }
    textarea.addEventListener("input", update);
    update();
  }

  // Launch sends once: after the confirmation (app.js asks in the capture phase), the buttons
  // are disabled so a second click does nothing; the server refuses a second launch anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-once]") || event.defaultPrevented) { return; }
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; b.setAttribute("aria-disabled", "true"); });
    }, 0);
  });

  function enhance(root) {
    root.querySelectorAll('textarea[data-editor="quill"]').forEach(initEditor);
    root.querySelectorAll("[data-merge-menu]").forEach(initMergeMenu);
    root.querySelectorAll("textarea[data-sms-counter]").forEach(initSmsCounter);
  }

  // A swapped fragment takes the focused button with it: put the focus back where the person
  // was (the same channel's toggle, the reminders' first field, the search box).
  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    refocus = null;
    if (elt.matches(".channel-toggle")) { refocus = '.channel-toggle[data-channel="' + elt.dataset.channel + '"]'; }
    else if (elt.matches('#reminders button[value="add"]')) { refocus = "#reminders fieldset.reminder:last-of-type input[type=number]"; }
    else if (elt.matches('#reminders button[value^="remove-"]')) { refocus = "#reminders > button, #reminders fieldset input[type=number]"; }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) { return; }
    var target = document.querySelector(refocus);
    refocus = null;
    if (target) { target.focus(); }
  });

  // htmx fires htmx:load for new content (a reminder added, a panel re-rendered).
  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
})();
