/* Live updates for the admin page, written as progressive enhancement: every page is complete
   without this script (the server renders the same data and a <noscript> refresh covers a running
   provisioning); the script only keeps the progress panel and the students table current by polling
   the JSON endpoints the server renders them from.  No framework; text goes in with textContent. */
(function () {
  "use strict";

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) {
        if (!res.ok) { throw new Error("HTTP " + res.status); }
        return res.json();
      });
  }

  function setBadge(el, tone, text) {
    if (!el) { return; }
    el.className = el.className.replace(/\bbadge-\w+\b/g, "").trim() + " badge-" + tone;
    el.textContent = text;
  }

  /* -- provisioning progress -------------------------------------------------------------- */
  function stepItem(list, step) {
    var li = list.querySelector('[data-step="' + CSS.escape(step.name) + '"]');
    if (li) { return li; }
    var template = list.querySelector("[data-step]");
    if (!template) { return null; }
    li = template.cloneNode(true);
    li.setAttribute("data-step", step.name);
    list.appendChild(li);
    return li;
  }

  function renderRun(panel, run) {
    panel.setAttribute("data-finished", run.finished ? "true" : "false");
    var status = panel.querySelector("[data-run-status]");
    setBadge(status, run.tone, run.status_label);
    status.setAttribute("data-run-status", run.status);
    var bar = panel.querySelector("[data-progress]");
    if (bar) {
      bar.max = run.progress.total || 1;
      bar.value = run.progress.done;
      bar.className = "progress progress-" + run.tone;
    }
    panel.querySelector("[data-run-summary]").textContent = run.summary;
    var list = panel.querySelector("[data-steps]");
    run.steps.forEach(function (step) {
      var li = stepItem(list, step);
      if (!li) { return; }
      li.className = "step step-" + step.status;
      li.querySelector(".step-title").textContent = step.title;
      li.querySelector("[data-step-counts]").textContent = step.counts_label;
      var err = li.querySelector("[data-step-error]");
      err.textContent = step.error;
      err.hidden = !step.error;
      setBadge(li.querySelector("[data-step-status]"), step.tone, step.status_label);
    });
    var retry = panel.querySelector("[data-retry]");
    if (retry) {
      retry.hidden = !run.retryable;
      retry.querySelector("[data-run-error]").textContent = run.error;
    }
    var note = panel.querySelector("[data-live-note]");
    if (note) { note.hidden = run.finished; }
    var button = document.getElementById("provision-button");
    if (button) { button.disabled = !run.finished; }
  }

  function watchRun(panel) {
    var url = panel.getAttribute("data-run-url");
    var wasRunning = panel.getAttribute("data-finished") !== "true";
    if (!wasRunning) { return; }
    var delay = 700;
    function tick() {
      getJSON(url).then(function (run) {
        renderRun(panel, run);
        if (run.finished) {
          // The journal and the session's status changed too: show them from the server.
          if (panel.getAttribute("data-reload-on-finish") === "true") {
            window.setTimeout(function () { window.location.reload(); }, 1500);
          }
          return;
        }
        delay = Math.min(delay * 1.15, 3000);
        window.setTimeout(tick, delay);
      }).catch(function () {
        // The server restarting or a dropped connection: keep trying, more slowly.
        window.setTimeout(tick, 5000);
      });
    }
    window.setTimeout(tick, delay);
  }

  /* -- students ------------------------------------------------------------------------------ */
  function renderStudents(table, data) {
    var lateLabel = table.getAttribute("data-label-late") || "late";
    data.students.forEach(function (st) {
      var row = table.querySelector('tr[data-student="' + st.id + '"]');
      if (!row) { return; }
      var cell = function (name) { return row.querySelector('[data-field="' + name + '"]'); };
      var ticket = cell("ticket");
      ticket.textContent = st.ticket === null ? "—" : String(st.ticket);
      if (st.draw_error) {
        var why = document.createElement("span");
        why.className = "small text-bad draw-error";
        why.textContent = st.draw_error;
        ticket.appendChild(document.createElement("br"));
        ticket.appendChild(why);
      }
      var answers = cell("answers");
      answers.textContent = st.answers_label || "—";
      if (st.late) {
        var late = document.createElement("span");
        late.className = "badge badge-warn";
        late.textContent = lateLabel;
        answers.appendChild(document.createTextNode(" "));
        answers.appendChild(late);
      }
      setBadge(cell("status").querySelector(".badge"), st.tone, st.status_label);
      var ballots = cell("ballots");
      ballots.textContent = String(st.ballots);
      if (st.flagged_ballots) {
        var flag = document.createElement("span");
        flag.className = "badge badge-warn";
        flag.textContent = "+" + st.flagged_ballots;
        ballots.appendChild(document.createTextNode(" "));
        ballots.appendChild(flag);
      }
      var decision = cell("decision");
      decision.textContent = "";
      if (st.decision) {
        var grade = document.createElement("strong");
        grade.className = "grade";
        grade.textContent = st.decision.letter;
        var pts = document.createElement("span");
        pts.className = "muted small";
        pts.textContent = Number(st.decision.points).toFixed(1);
        decision.appendChild(grade);
        decision.appendChild(document.createTextNode(" "));
        decision.appendChild(pts);
        st.decision.writebacks.forEach(function (wb) {
          var b = document.createElement("span");
          b.className = "badge badge-small badge-" + wb.tone;
          b.textContent = wb.target_label;
          decision.appendChild(b);
        });
      } else {
        decision.textContent = "—";
      }
      // Once decided there is no vote left to close.
      var actions = cell("actions");
      if (actions && st.decision) { actions.textContent = ""; }
    });
  }

  function watchStudents(section) {
    var url = section.getAttribute("data-students-url");
    var table = section.querySelector("table");
    if (!url || !table) { return; }
    function tick() {
      if (document.hidden) { window.setTimeout(tick, 5000); return; }
      getJSON(url).then(function (data) {
        renderStudents(table, data);
        window.setTimeout(tick, 5000);
      }).catch(function () { window.setTimeout(tick, 15000); });
    }
    window.setTimeout(tick, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("run");
    if (panel) { watchRun(panel); }
    var students = document.getElementById("students");
    if (students) { watchStudents(students); }
    // Provision/Retry: one click is enough; a double click must not queue two runs.
    Array.prototype.forEach.call(document.querySelectorAll("form[data-retry], .provision-form"), function (form) {
      form.addEventListener("submit", function () {
        var b = form.querySelector("button[type=submit]");
        if (b) { window.setTimeout(function () { b.disabled = true; }, 0); }
      });
    });
  });
  /* -- confirmation of irreversible actions ------------------------------------------------ */
  /* Forms with data-confirm say what they will do before they do it. */
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
}());
