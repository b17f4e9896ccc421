/* Home-visit booking form (上门约办) for item pages.
 *
 * Enhances <div class="ot-booking" data-item="CODE" data-item-name="NAME"> into a form
 * that talks to /api on the same origin. When the API cannot be reached the container
 * keeps its link to the server-rendered /book/CODE page, which works without JavaScript.
 */
(function () {
  "use strict";

  var API = "/api";
  var REASONS = [
    ["age", "高龄（80周岁以上）"],
    ["disability", "残疾（持残疾人证）"],
    ["illness", "重病或卧床"],
    ["alone", "独居老人（70周岁以上）"],
    ["other", "其他原因"]
  ];
  var FIELD_NAMES = {
    "applicant.name": "applicant_name",
    "applicant.id_number": "applicant_id_number",
    "applicant.phone": "applicant_phone",
    "booker.name": "booker_name",
    "booker.phone": "booker_phone",
    "booker.relationship": "booker_relationship",
    "address.town_code": "town_code",
    "address.village": "village",
    "address.detail": "address_detail",
    "town_code": "town_code",
    "reason": "reason",
    "disability_grade": "disability_grade",
    "date": "slot",
    "half_day": "slot"
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function field(label, input, hint) {
    var wrap = el("div", { "class": "ot-field" });
    var id = "ot-" + input.name + "-" + Math.random().toString(36).slice(2, 8);
    input.id = id;
    wrap.appendChild(el("label", { "for": id, text: label }));
    wrap.appendChild(input);
    if (hint) wrap.appendChild(el("p", { "class": "ot-hint", text: hint }));
    wrap.appendChild(el("p", { "class": "ot-field-error", "aria-live": "polite" }));
    return wrap;
  }

  function input(name, type, extra) {
    var attrs = { name: name, type: type || "text", autocomplete: "off" };
    Object.keys(extra || {}).forEach(function (k) { attrs[k] = extra[k]; });
    return el("input", attrs);
  }

  // GB 11643 check character (ISO 7064 MOD 11-2); the server checks again.
  function idValid(value) {
    var v = value.trim().toUpperCase();
    if (!/^\d{17}[\dX]$/.test(v)) return false;
    var w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    var sum = 0;
    for (var i = 0; i < 17; i++) sum += Number(v[i]) * w[i];
    return "10X98765432"[sum % 11] === v[17];
  }

  // What is wrong with a phone number, in words a resident can act on; "" when it is fine.
  function phoneProblem(value, whose) {
    var v = value.replace(/[\s-]/g, "").replace(/^(\+86|0086)/, "");
    if (!v) return "请填写" + whose + "手机号码。";
    if (/^0\d{9,11}$/.test(v)) {
      return "这是固定电话。请填写能接电话、收短信的手机号码，可以填亲属的手机；没有手机的，请拨打 12345 电话预约。";
    }
    return /^1[3-9]\d{9}$/.test(v) ? "" : "请填写" + whose + "11位手机号码。";
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function request(method, path, body, headers) {
    var opts = { method: method, headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    Object.keys(headers || {}).forEach(function (k) { opts.headers[k] = headers[k]; });
    return fetch(API + path, opts).then(function (resp) {
      return resp.json().then(function (data) {
        return { status: resp.status, data: data };
      }, function () {
        throw new Error("not json");
      });
    });
  }

  function dayText(iso, halfDay) {
    if (window.OneTrip && window.OneTrip.dateText) return window.OneTrip.dateText(iso, halfDay);
    return iso + (halfDay ? " " + halfDay : "");
  }

  function slotLabel(s) {
    var text = dayText(s.date, s.half_day_name || s.half_day);
    return s.remaining > 0 ? text + "（剩余" + s.remaining + "个名额）" : text + "（已约满）";
  }

  function unavailable(box, link) {
    box.querySelectorAll(".ot-form, .ot-message").forEach(function (n) { n.remove(); });
    var msg = el("div", { "class": "ot-message ot-error", role: "alert" });
    msg.appendChild(el("p", {
      text: "在线预约暂时无法使用。请点击下面的按钮打开简易预约页面，或拨打 12345 电话预约。"
    }));
    box.insertBefore(msg, link);
  }

  function build(box) {
    var item = box.getAttribute("data-item");
    var itemName = box.getAttribute("data-item-name") || "";
    var link = box.querySelector("p") || box.lastChild;
    var key = newKey();

    var form = el("form", { "class": "ot-form", novalidate: "novalidate" });
    form.appendChild(el("h3", { text: "预约上门办理：" + itemName }));
    form.appendChild(el("p", {
      "class": "ot-hint",
      text: "面向80周岁以上老人、一二级残疾人、重病或卧床人员、70周岁以上独居老人。亲属或村（社区）工作人员可以代为预约。"
    }));

    var applicant = el("fieldset", {}, [el("legend", { text: "申请人（需要上门办理的人）" })]);
    applicant.appendChild(field("姓名", input("applicant_name", "text", { maxlength: "30", required: "required" })));
    applicant.appendChild(field("身份证号码", input("applicant_id_number", "text", { maxlength: "18", required: "required" })));
    applicant.appendChild(field("手机号码", input("applicant_phone", "tel", { maxlength: "20", required: "required" })));
    form.appendChild(applicant);

    var booker = el("fieldset", {}, [el("legend", { text: "由谁预约" })]);
    [["self", "本人预约"], ["relative", "亲属代约"], ["worker", "村（社区）工作人员代约"]].forEach(function (k, i) {
      var r = input("booker_kind", "radio", { value: k[0] });
      if (i === 0) r.checked = true;
      booker.appendChild(el("label", { "class": "ot-inline" }, [r, document.createTextNode(" " + k[1])]));
    });
    var bookerFields = el("div", { "class": "ot-booker", hidden: "hidden" });
    bookerFields.appendChild(field("代约人姓名", input("booker_name", "text", { maxlength: "30" })));
    bookerFields.appendChild(field("与申请人关系", input("booker_relationship", "text", { maxlength: "20" }), "如 儿子、女儿、村干部"));
    bookerFields.appendChild(field("代约人手机号码", input("booker_phone", "tel", { maxlength: "20" })));
    booker.appendChild(bookerFields);
    form.appendChild(booker);

    var address = el("fieldset", {}, [el("legend", { text: "上门地址" })]);
    var town = el("select", { name: "town_code", required: "required" });
    town.appendChild(el("option", { value: "", text: "请选择乡镇（街道）" }));
    address.appendChild(field("乡镇（街道）", town));
    address.appendChild(field("村（社区）", input("village", "text", { maxlength: "50" })));
    address.appendChild(field("详细地址", input("address_detail", "text", { maxlength: "100", required: "required" }), "路名、门牌号或标志物"));
    form.appendChild(address);

    var reason = el("fieldset", {}, [el("legend", { text: "为什么需要上门" })]);
    REASONS.forEach(function (r) {
      reason.appendChild(el("label", { "class": "ot-block" }, [input("reason", "radio", { value: r[0] }), document.createTextNode(" " + r[1])]));
    });
    var grade = el("select", { name: "disability_grade" });
    [["", "请选择"], ["1", "一级"], ["2", "二级"], ["3", "三级"], ["4", "四级"]].forEach(function (g) {
      grade.appendChild(el("option", { value: g[0], text: g[1] }));
    });
    var gradeField = field("残疾等级", grade);
    gradeField.hidden = true;
    reason.appendChild(gradeField);
    reason.appendChild(el("p", { "class": "ot-field-error ot-reason-error", "aria-live": "polite" }));
    reason.appendChild(el("p", { "class": "ot-hint", text: "只需选择类别，不用填写病情。工作人员会电话核实。" }));
    form.appendChild(reason);

    var when = el("fieldset", {}, [el("legend", { text: "希望上门的时间" })]);
    var slot = el("select", { name: "slot", required: "required" });
    slot.appendChild(el("option", { value: "", text: "请先选择乡镇（街道）" }));
    when.appendChild(field("日期和时段", slot));
    form.appendChild(when);

    var status = el("div", { "class": "ot-message", "aria-live": "assertive" });
    form.appendChild(status);
    form.appendChild(el("p", { "class": "ot-hint", text: "身份证号码只用于核对身份和年龄，页面和工作人员列表中只显示部分号码。" }));
    var submit = el("button", { type: "submit", "class": "md-button md-button--primary", text: "提交预约" });
    form.appendChild(submit);

    form.addEventListener("change", function (ev) {
      var t = ev.target;
      if (t.name === "booker_kind") bookerFields.hidden = t.value === "self";
      if (t.name === "reason") gradeField.hidden = t.value !== "disability";
      if (t.name === "town_code") loadSlots();
      if (t.name !== "slot") key = newKey(); // a changed request is a new request
    });

    function loadSlots() {
      slot.innerHTML = "";
      if (!town.value) {
        slot.appendChild(el("option", { value: "", text: "请先选择乡镇（街道）" }));
        return;
      }
      slot.appendChild(el("option", { value: "", text: "正在查询可约时段…" }));
      request("GET", "/slots?item=" + encodeURIComponent(item) + "&town_code=" + town.value).then(function (r) {
        slot.innerHTML = "";
        var open = (r.status === 200 ? r.data : []).filter(function (s) { return s.remaining > 0; });
        if (!open.length) {
          slot.appendChild(el("option", { value: "", text: "近期没有可约时段，请拨打 12345" }));
          return;
        }
        slot.appendChild(el("option", { value: "", text: "请选择" }));
        open.forEach(function (s) {
          slot.appendChild(el("option", { value: s.date + "|" + s.half_day, text: slotLabel(s) }));
        });
      }, function () { unavailable(box, link); });
    }

    function clearErrors() {
      form.querySelectorAll(".ot-field-error").forEach(function (n) { n.textContent = ""; });
      form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
      status.textContent = "";
      status.className = "ot-message";
    }

    function showFieldError(name, message) {
      var control = form.elements[FIELD_NAMES[name] || name];
      var target = null;
      if (control && control.length && !control.tagName) {
        target = form.querySelector(".ot-reason-error");
        control = control[0];
      } else if (control) {
        target = control.parentNode.querySelector(".ot-field-error");
      }
      if (target) {
        target.textContent = message;
        if (!target.id) target.id = "ot-err-" + Math.random().toString(36).slice(2, 8);
      }
      if (control && control.setAttribute) {
        control.setAttribute("aria-invalid", "true");
        if (target) control.setAttribute("aria-describedby", target.id);
      }
      return Boolean(target);
    }

    // With several errors the first one on the form gets the focus, not the last checked.
    function focusFirstError() {
      var first = form.querySelector("[aria-invalid=true]");
      if (first && first.focus) first.focus();
    }

    function showStatus(message, extra) {
      status.className = "ot-message ot-error";
      status.setAttribute("role", "alert");
      status.innerHTML = "";
      status.appendChild(el("p", { text: message }));
      (extra || []).forEach(function (n) { status.appendChild(n); });
    }

    function value(name) {
      var c = form.elements[name];
      return c ? String(c.value || "").trim() : "";
    }

    function checkLocally() {
      var ok = true;
      [["applicant_name", "请填写姓名。"], ["address_detail", "请填写详细地址。"], ["town_code", "请选择乡镇（街道）。"],
        ["slot", "请选择日期和时段。"]].forEach(function (f) {
        if (!value(f[0])) { ok = showFieldError(f[0], f[1]) && false; }
      });
      if (!idValid(value("applicant_id_number"))) ok = showFieldError("applicant_id_number", "身份证号码不正确，请逐位核对（最后一位可能是X）。") && false;
      var phone = phoneProblem(value("applicant_phone"), "");
      if (phone) ok = showFieldError("applicant_phone", phone) && false;
      if (!value("reason")) ok = showFieldError("reason", "请选择一项上门原因。") && false;
      if (value("reason") === "disability" && !value("disability_grade")) ok = showFieldError("disability_grade", "请选择残疾等级。") && false;
      if (value("booker_kind") !== "self") {
        if (!value("booker_name")) ok = showFieldError("booker_name", "请填写代约人姓名。") && false;
        if (!value("booker_relationship")) ok = showFieldError("booker_relationship", "请填写与申请人关系。") && false;
        var bookerPhone = phoneProblem(value("booker_phone"), "代约人的");
        if (bookerPhone) ok = showFieldError("booker_phone", bookerPhone) && false;
      }
      if (!ok) focusFirstError();
      return ok;
    }

    function body() {
      var parts = value("slot").split("|");
      var b = {
        item: item,
        applicant: { name: value("applicant_name"), id_number: value("applicant_id_number"), phone: value("applicant_phone") },
        address: { town_code: value("town_code"), village: value("village"), detail: value("address_detail") },
        reason: value("reason"),
        date: parts[0],
        half_day: parts[1]
      };
      if (b.reason === "disability") b.disability_grade = Number(value("disability_grade"));
      if (value("booker_kind") !== "self") {
        b.booker = { kind: value("booker_kind"), name: value("booker_name"), phone: value("booker_phone"),
          relationship: value("booker_relationship") };
      }
      return b;
    }

    function done(data) {
      var ok = el("div", { "class": "ot-message ot-ok", role: "status" });
      ok.appendChild(el("p", { text: "预约已提交。您的预约号：" }));
      ok.appendChild(el("p", { "class": "ot-reference", "data-reference": data.reference, text: data.reference }));
      ok.appendChild(el("p", { text: "请记下预约号。查询、取消或改期时需要预约号和手机号后四位。" }));
      ok.appendChild(el("p", { text: "时间：" + dayText(data.date, data.half_day_name || data.half_day) + "；状态：" + data.status_name }));
      ok.appendChild(el("p", { text: "接下来：" + data.next_steps }));
      ok.appendChild(el("p", {}, [el("a", { href: "/booking", text: "查询/取消/改期我的预约" })]));
      form.replaceWith(ok);
      link.hidden = true;
      ok.scrollIntoView({ block: "center" });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      clearErrors();
      if (!checkLocally()) return;
      submit.disabled = true;
      submit.textContent = "正在提交…";
      request("POST", "/bookings", body(), { "Idempotency-Key": key }).then(function (r) {
        submit.disabled = false;
        submit.textContent = "提交预约";
        var d = r.data || {};
        if (r.status === 201 || r.status === 200) return done(d);
        if (r.status === 409 && d.alternatives) {
          var list = el("ul");
          d.alternatives.forEach(function (a) { list.appendChild(el("li", { text: slotLabel(a) })); });
          loadSlots();
          return showStatus(d.message + (d.alternatives.length ? " 还有名额的时段：" : ""), [list]);
        }
        if (d.error === "not_eligible" && d.nearest_office) {
          var o = d.nearest_office;
          return showStatus(d.message, [el("p", { text: "就近办理：" + o.name + "，" + o.address + "，电话 " + o.phone })]);
        }
        if (d.field && FIELD_NAMES[d.field] && showFieldError(d.field, d.message)) return focusFirstError();
        showStatus(d.message || "提交没有成功，请稍后再试，或拨打 12345。");
      }, function () {
        submit.disabled = false;
        submit.textContent = "提交预约";
        // Same Idempotency-Key on retry: a request that did arrive is not booked twice.
        showStatus("网络不通，提交没有成功。请稍后再点一次“提交预约”，或使用下面的简易预约页面。");
      });
    });

    request("GET", "/townships").then(function (r) {
      if (r.status !== 200) throw new Error("townships " + r.status);
      r.data.forEach(function (t) { town.appendChild(el("option", { value: t.code, text: t.name })); });
      box.insertBefore(form, link);
      link.classList.add("ot-fallback");
      var a = link.querySelector("a");
      if (a) a.textContent = "不方便在这里填写？打开简易预约页面";
      box.setAttribute("data-ready", "true");
    }).catch(function () { unavailable(box, link); box.setAttribute("data-ready", "error"); });
  }

  function init() {
    document.querySelectorAll(".ot-booking[data-item]:not([data-enhanced])").forEach(function (box) {
      box.setAttribute("data-enhanced", "true");
      build(box);
    });
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(init); // Material instant navigation re-renders pages
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
