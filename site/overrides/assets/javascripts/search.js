/* The guide's search box (partials/search.html) with Pagefind behind it.
 *
 * Pagefind's script and index chunks load on the first use of the box, so reading a page
 * costs nothing; a query fetches only the chunks for its words (docs/benchmarks.md: Search).
 * Results use Material's result markup, so they look like the rest of the site.
 */
(function () {
  "use strict";

  var SHOWN = 10;
  // Ranking: page length counts little (an item with many materials is not less relevant),
  // and a term that only starts an indexed word counts much less than the word itself.
  var RANKING = { pageLength: 0.3, termFrequency: 0.5, termSimilarity: 3 };
  var pagefind = null;
  var seq = 0;

  function form() { return document.querySelector("form[name=ot-search]"); }
  function toggle() { return document.getElementById("__search"); }

  function siteRoot(f) {
    // base_url is relative to the page ("..", "../.."): resolve it against the page.
    var base = f.getAttribute("data-ot-base") || ".";
    return new URL(base.replace(/\/?$/, "/"), window.location.href);
  }

  function load(f) {
    if (!pagefind) {
      var root = siteRoot(f);
      pagefind = import(new URL("pagefind/pagefind.js", root).href).then(function (pf) {
        return pf.options({ baseUrl: root.pathname, excerptLength: 24, ranking: RANKING }).then(function () {
          return pf.init();
        }).then(function () { return pf; });
      });
      pagefind.catch(function () { pagefind = null; });
    }
    return pagefind;
  }

  function setMeta(f, text) {
    f.parentNode.querySelector(".ot-search-meta").textContent = text;
  }

  function render(f, results, total, partial) {
    var list = f.parentNode.querySelector(".ot-search-results");
    list.innerHTML = "";
    results.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "md-search-result__item";
      var a = document.createElement("a");
      a.className = "md-search-result__link";
      a.href = r.url;
      var article = document.createElement("article");
      article.className = "md-search-result__article md-typeset";
      var h = document.createElement("h1");
      h.textContent = (r.meta && r.meta.title) || r.url;
      var p = document.createElement("p");
      // Item pages carry a summary (guide.pages.search_record); other pages show the
      // excerpt, which Pagefind escapes, adding only <mark>.
      if (r.meta && r.meta.summary) p.textContent = r.meta.summary;
      else p.innerHTML = r.excerpt;
      article.appendChild(h);
      article.appendChild(p);
      a.appendChild(article);
      li.appendChild(a);
      list.appendChild(li);
    });
    if (!total) setMeta(f, "没有找到。换个说法试试，例如「养老」「户口」「残疾人证」，或拨打 12345 咨询。");
    else setMeta(f, (partial ? "没有完全符合的，下面是相近的 " : "找到 ") + total + " 个结果" +
      (total > results.length ? "，这里列出最相关的 " + results.length + " 个" : ""));
  }

  function segments(query) {
    if (typeof Intl === "undefined" || !Intl.Segmenter) return query.split(/\s+/);
    var seg = new Intl.Segmenter("zh", { granularity: "word" });
    var out = [];
    Array.from(seg.segment(query)).forEach(function (s) {
      if (s.isWordLike && out.indexOf(s.segment) < 0) out.push(s.segment);
    });
    return out;
  }

  // Pagefind wants every word of a query on the page. When no page has them all (退休拿养老金:
  // no page says 拿), rank the pages by how many of the words they have, then by score, so
  // a resident's own phrasing still finds the item.
  function anyWords(pf, query) {
    var words = segments(query);
    if (words.length < 2) return Promise.resolve([]);
    return Promise.all(words.map(function (w) { return pf.search(w); })).then(function (found) {
      var pages = {};
      found.forEach(function (search) {
        search.results.forEach(function (r) {
          var p = pages[r.id] || (pages[r.id] = { result: r, words: 0, score: 0 });
          p.words += 1;
          p.score += r.score;
        });
      });
      return Object.keys(pages).map(function (k) { return pages[k]; }).sort(function (a, b) {
        return b.words - a.words || b.score - a.score;
      }).map(function (p) { return p.result; });
    });
  }

  // Results for a query, best first: {results: [page data], total, partial}.
  function find(f, query) {
    return load(f).then(function (pf) {
      return pf.search(query).then(function (search) {
        if (search.results.length) return { results: search.results, partial: false };
        return anyWords(pf, query).then(function (r) { return { results: r, partial: true }; });
      });
    }).then(function (found) {
      return Promise.all(found.results.slice(0, SHOWN).map(function (r) { return r.data(); }))
        .then(function (data) {
          return { results: data, total: found.results.length, partial: found.partial };
        });
    });
  }

  function run(f) {
    var query = f.elements.q.value.trim();
    var mine = ++seq;
    if (!query) {
      f.parentNode.querySelector(".ot-search-results").innerHTML = "";
      setMeta(f, "输入要办的事，例如「养老」「上户口」「户口簿」");
      return;
    }
    setMeta(f, "正在搜索…");
    find(f, query).then(function (found) {
      if (mine !== seq) return;
      render(f, found.results, found.total, found.partial);
    }).catch(function () {
      if (mine === seq) setMeta(f, "搜索暂时无法使用，请从「全部事项」或「按部门找」查找，或拨打 12345。");
    });
  }

  function init() {
    var f = form();
    var t = toggle();
    if (!f || f.getAttribute("data-ready")) return;
    f.setAttribute("data-ready", "true");
    var box = f.elements.q;
    var timer = null;
    function soon() {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { run(f); }, 120);
    }
    box.addEventListener("input", soon);
    box.addEventListener("compositionend", soon);
    box.addEventListener("focus", function () {
      if (t && !t.checked) t.checked = true;
      load(f);
    });
    f.addEventListener("reset", function () {
      window.setTimeout(function () { run(f); box.focus(); }, 0);
    });
    f.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var first = f.parentNode.querySelector(".ot-search-results a");
      if (first) window.location.href = first.href;
      else run(f);
    });
    if (t) {
      t.addEventListener("change", function () {
        if (t.checked) { load(f); window.setTimeout(function () { box.focus(); }, 50); }
      });
    }
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && t && t.checked) {
        t.checked = false;
        box.blur();
      }
    });
  }

  window.OneTrip = window.OneTrip || {};
  window.OneTrip.search = function (query) { return find(form(), query); };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
