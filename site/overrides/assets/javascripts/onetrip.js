/* Large-type toggle (大字) in the header: one tap makes every page's text larger, and the
 * choice is remembered on this phone. Works without any server. */
(function () {
  "use strict";
  var KEY = "onetrip.large";
  var root = document.documentElement;

  function remembered() {
    try { return window.localStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }
  function remember(on) {
    try { window.localStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode */ }
  }
  function apply(on, button) {
    root.classList.toggle("ot-large", on);
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "标准字" : "大字";
    }
  }

  apply(remembered(), null);
  document.addEventListener("DOMContentLoaded", function () {
    var header = document.querySelector(".md-header__inner");
    if (!header || header.querySelector(".ot-large-toggle")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "md-header__button ot-large-toggle";
    button.title = "放大或还原文字";
    var search = header.querySelector('label[for="__search"]');
    header.insertBefore(button, search);
    apply(remembered(), button);
    button.addEventListener("click", function () {
      var on = !root.classList.contains("ot-large");
      remember(on);
      apply(on, button);
    });
  });
})();
