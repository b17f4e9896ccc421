/* Large-type toggle (大字) in the header: one tap makes every page's text larger, and the
 * choice is remembered on this phone. Works without any server. */
(function () {
  "use strict";
  var WEEKDAYS = "日一二三四五六"; // Date.getDay(): Sunday is 0
  var HALF_DAYS = { am: "上午", pm: "下午" };

  // The one date format of every page: 12月4日 星期五 上午. Same as guide.dates.date_text
  // (site/guide/dates.py); tests/guide/test_dates.py checks that both agree.
  function dateText(iso, halfDay, opts) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
    if (!m) throw new Error("date must be YYYY-MM-DD, not " + iso);
    var d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    var o = opts || {};
    var text = (o.year ? d.getFullYear() + "年" : "") + (d.getMonth() + 1) + "月" + d.getDate() + "日";
    if (o.weekday !== false) text += " 星期" + WEEKDAYS[d.getDay()];
    if (halfDay) text += " " + (HALF_DAYS[halfDay] || halfDay);
    return text;
  }
  window.OneTrip = window.OneTrip || {};
  window.OneTrip.dateText = dateText;

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
    // A table wider than the phone scrolls inside its wrapper: keyboard users must reach it.
    document.querySelectorAll(".md-typeset__scrollwrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", "表格（可左右滑动）");
      }
    });
    // Pages outside the guide (booking, staff) bring their own <button class="ot-large-toggle">;
    // the guide gets one in Material's header. Either way the choice is shared.
    var button = document.querySelector("button.ot-large-toggle");
    var header = document.querySelector(".md-header__inner");
    if (!button && header) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "md-header__button ot-large-toggle";
      button.title = "放大或还原文字";
      header.insertBefore(button, header.querySelector('label[for="__search"]'));
    }
    if (!button || button.getAttribute("data-ready")) return;
    button.setAttribute("data-ready", "true");
    apply(remembered(), button);
    button.addEventListener("click", function () {
      var on = !root.classList.contains("ot-large");
      remember(on);
      apply(on, button);
    });
  });
})();
