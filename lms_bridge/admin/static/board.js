/* The sitting board, kept live: the page is complete without this script (the server renders it
   and a <noscript> refresh reloads it); the script fetches board.json every few seconds, puts the
   server-rendered board in place, and counts the clock and the timers down between fetches.  It
   never replaces the board while the secretary is filling in one of its forms. */
(function () {
  "use strict";
  var live = document.getElementById("board-live");
  if (!live) { return; }
  var url = live.getAttribute("data-url");
  var skew = 0; // server time minus this browser's time, in ms

  function busy() {
    var active = document.activeElement;
    if (active && live.contains(active) && /INPUT|SELECT|TEXTAREA|BUTTON|SUMMARY/.test(active.tagName)) { return true; }
    if (live.querySelector("details[open]")) { return true; }
    return Array.prototype.some.call(live.querySelectorAll("input[type=checkbox], input[type=file], textarea"),
      function (el) { return el.type === "checkbox" ? el.checked : !!el.value; });
  }

  function syncClock() {
    var summary = live.querySelector("[data-now]");
    if (summary) { skew = Date.parse(summary.getAttribute("data-now")) - Date.now(); }
  }

  function mmss(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function tick() {
    var now = Date.now() + skew;
    var clock = document.getElementById("clock");
    if (clock) {
      try {
        clock.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
          hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: clock.getAttribute("data-tz")
        }).format(new Date(now));
      } catch (e) { /* an unknown zone in this browser: keep the server's time */ }
    }
    var timer = document.getElementById("answer-timer");
    if (timer) {
      var answerEnds = Date.parse(timer.getAttribute("data-answer-ends"));
      var questionsEnd = Date.parse(timer.getAttribute("data-questions-end"));
      var phase, text;
      var mayEnd = timer.getAttribute("data-may-end") ? Date.parse(timer.getAttribute("data-may-end")) : 0;
      if (now < answerEnds) {
        phase = "answer"; text = timer.getAttribute("data-label-answer") + " " + mmss(answerEnds - now);
        // A defense's talk (7-10 min) or a creative presentation (10-15 min): the shortest it may be.
        if (mayEnd && now < mayEnd) { text += " (min " + mmss(mayEnd - now) + ")"; }
      }
      else if (now < questionsEnd) { phase = "questions"; text = timer.getAttribute("data-label-questions") + " " + mmss(questionsEnd - now); }
      else { phase = "over"; text = timer.getAttribute("data-label-over") + " +" + mmss(now - questionsEnd); }
      timer.className = "timer timer-" + phase;
      timer.textContent = text;
    }
    Array.prototype.forEach.call(live.querySelectorAll("[data-countdown]"), function (el) {
      el.textContent = mmss(Date.parse(el.getAttribute("data-countdown")) - now);
    });
  }

  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) { if (!res.ok) { throw new Error("HTTP " + res.status); } return res.json(); })
      .then(function (board) {
        if (busy()) { return; }
        // Server-rendered and escaped by the template engine, as on the first load.
        live.innerHTML = board.html;
        syncClock();
        tick();
      })
      .catch(function () { /* the next poll tries again */ });
  }

  /* Forms with data-confirm say what they will do before they do it (as on the session page). */
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);

  syncClock();
  tick();
  window.setInterval(tick, 1000);
  window.setInterval(refresh, 4000);
})();
