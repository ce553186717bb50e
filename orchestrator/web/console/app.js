// The interviewers' web console: one page, three views (#/ sessions, #/session/ID,
// #/report/ID), all drawn from the daemon's REST API with the sign-in cookie. Nothing
// from the API is ever parsed as HTML: el() builds elements and sets text.
"use strict";

let csrf = "";
let refresh = null;  // the current view's timer
let socket = null;   // the current view's live terminal

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function say(text) {
  document.getElementById("status").textContent = text;
}

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") headers["X-Breakfix-CSRF"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, credentials: "same-origin",
                                      body: body === undefined ? undefined : JSON.stringify(body)});
  if (response.status === 401) {
    location.href = "/ui/login.html";
    throw new Error("signed out");
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error((data && data.error) || `${response.status}`);
  return data;
}

function minutes(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

function percent(score) {
  return score === null || score === undefined ? "-" : `${Math.round(score * 100)}%`;
}

function copyable(label, value) {
  // Named by its label, not at random, so redraw() finds it again after a refresh.
  const id = "copy-" + label.replace(/[^a-z0-9]+/gi, "-");
  const input = el("input", {id, type: "text", readonly: true, value});
  const button = el("button", {type: "button", onclick: async () => {
    input.select();
    try { await navigator.clipboard.writeText(value); say(`${label} copied`); } catch { document.execCommand("copy"); }
  }}, "Copy");
  return el("div", {class: "copyable"}, el("label", {for: id}, label), input, button);
}

// The live views are drawn again every 3 s. Keep the keyboard's place across a redraw:
// focus on a link in the table would otherwise fall back to the top of the page.
function redraw(container, ...children) {
  const focused = document.activeElement;
  const key = focused && focused !== document.body && container.contains(focused) ? focusKey(focused) : null;
  container.replaceChildren(...children);
  if (key === null) return;
  const again = [...container.querySelectorAll("a, button, input, select, textarea")].find(e => focusKey(e) === key);
  if (again) again.focus();
}

function focusKey(element) {
  return [element.tagName, element.id, element.getAttribute("href") || "", element.id ? "" : element.textContent].join("|");
}

function leave() {
  if (refresh) clearInterval(refresh);
  refresh = null;
  if (socket) socket.close();
  socket = null;
}

// --- the sessions page ---------------------------------------------------------------------

async function sessionsView(main) {
  const catalog = await api("GET", "/v1/scenarios");
  const choices = [...catalog.scenarios.map(s => ({...s, value: s.id})),
                   ...(catalog.plans || []).map(p => ({...p, value: p.id, kind: "plan"}))];
  const about = el("div", {id: "scenario-about", class: "about", "aria-live": "polite"});
  const picker = el("select", {id: "scenario", name: "scenario", required: true},
                    choices.map(c => el("option", {value: c.value}, `${c.title} (${c.kind === "plan" ? "plan" : c.difficulty})`)));
  const describe = () => {
    const chosen = choices.find(c => c.value === picker.value);
    about.replaceChildren(chosen ? el("p", {}, `${chosen.kind}, ${minutes(chosen.duration_s).replace(/m00s$/, " min")}: ${chosen.description}`) : "");
  };
  picker.addEventListener("change", describe);
  const result = el("div", {id: "started", "aria-live": "polite"});
  const form = el("form", {id: "start-form", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const keys = String(data.get("keys") || "").split("\n").map(k => k.trim()).filter(k => k && !k.startsWith("#"));
    const body = {scenario: data.get("scenario"), candidate: data.get("candidate"), password: data.get("password") === "on"};
    if (keys.length) body.public_keys = keys;
    try {
      say("starting…");
      const created = await api("POST", "/v1/sessions", body);
      say(`session ${created.id} created`);
      result.replaceChildren(el("div", {},
        el("h3", {}, `Send ${created.candidate} this`),
        copyable("ssh command", created.ssh.command),
        created.password ? copyable("one-time password", created.password) : null,
        copyable("host key pin (known_hosts line)", created.ssh.known_hosts),
        el("p", {}, "Host key fingerprint: ", el("code", {}, created.ssh.host_key_fingerprint)),
        el("p", {}, el("a", {href: `#/session/${created.id}`}, `Open session ${created.id}`))));
      await drawList();
    } catch (error) {
      say(`could not start: ${error.message}`);
      result.replaceChildren(el("p", {class: "error", role: "alert"}, error.message));
    }
  }},
    el("label", {for: "scenario"}, "Scenario or plan"), picker, about,
    el("label", {for: "candidate"}, "Candidate's name"), el("input", {id: "candidate", name: "candidate", required: true}),
    el("label", {for: "keys"}, "Candidate's public keys (one per line)"),
    el("textarea", {id: "keys", name: "keys", rows: 3, placeholder: "ssh-ed25519 AAAA… ada@laptop"}),
    el("div", {class: "check"}, el("input", {id: "password", name: "password", type: "checkbox"}),
       el("label", {for: "password"}, "Also generate a one-time password")),
    el("button", {type: "submit"}, "Start session"));
  const table = el("table", {id: "sessions"});
  async function drawList() {
    const listed = await api("GET", "/v1/sessions");
    const rows = listed.sessions.map(s => el("tr", {},
      el("td", {}, el("a", {href: `#/session/${s.id}`}, s.id)), el("td", {}, s.candidate), el("td", {}, s.scenario),
      el("td", {class: `state ${s.state}`}, s.state), el("td", {}, s.state === "ready" ? minutes(s.time_left_s) : "-"),
      el("td", {}, s.checks ? `${s.checks.passing} of ${s.checks.total}` : "-"), el("td", {}, percent(s.score)),
      el("td", {}, s.tampered === true ? "yes" : s.tampered === false ? "no" : "-"),
      el("td", {}, s.state === "graded" ? el("a", {href: `#/report/${s.id}`}, "report") : "")));
    const plans = (listed.plans || []).map(p => el("tr", {class: "plan"},
      el("td", {}, p.id), el("td", {}, p.candidate), el("td", {}, `plan ${p.plan}`), el("td", {}, p.state),
      el("td", {colspan: 5}, p.parts.map((part, i) => [i ? " · " : "", part.session
        ? el("a", {href: `#/session/${part.session.id}`}, `${i + 1}. ${part.name}`) : `${i + 1}. ${part.name}`]))));
    redraw(table,
      el("caption", {}, "Sessions (refreshed every 3 s)"),
      el("thead", {}, el("tr", {}, ["Session", "Candidate", "Scenario", "State", "Time left", "Checks passing now",
                                    "Score", "Tampered", ""].map(h => el("th", {scope: "col"}, h)))),
      el("tbody", {}, rows, plans));
  }
  main.replaceChildren(el("h1", {}, "Sessions"),
                       el("section", {}, table),
                       el("section", {"aria-labelledby": "start-heading"}, el("h2", {id: "start-heading"}, "Start a session"), form, result));
  describe();
  await drawList();
  refresh = setInterval(() => drawList().catch(e => say(e.message)), 3000);
}

// --- the session page ----------------------------------------------------------------------

function liveTerminal(id, box) {
  // Links the candidate prints are not followed from the interviewer's browser.
  const term = new Terminal({disableStdin: true, convertEol: false, cols: 100, rows: 28, scrollback: 5000,
                             linkHandler: {activate: () => {}}});
  term.open(box);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/v1/sessions/${id}/terminal`);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (message) => {
    if (typeof message.data === "string") {
      const event = JSON.parse(message.data);
      // The gateway bounds the size; a bad one must not stop the view either.
      if (event.type === "resize") {
        try { term.resize(Math.min(event.cols, 1000), Math.min(event.rows, 500)); } catch (error) { say(`terminal size: ${error.message}`); }
      }
    } else {
      term.write(new Uint8Array(message.data));
    }
    box.dataset.bytes = String(Number(box.dataset.bytes || 0) + (message.data.byteLength || 0));
  };
  socket.onclose = () => { box.dataset.closed = "1"; };
  return term;
}

async function sessionView(main, id) {
  const head = el("div", {id: "session-head"});
  const events = el("ol", {id: "timeline", class: "timeline"});
  const checks = el("div", {id: "checks"});
  const box = el("div", {id: "terminal", class: "terminal", role: "img", "aria-label": "The candidate's terminal, live"});
  const act = (label, run) => el("button", {type: "button", onclick: async () => {
    try { say(await run()); await draw(); } catch (error) { say(`${label}: ${error.message}`); }
  }}, label);
  const note = el("textarea", {id: "note", rows: 2});
  const commands = el("section", {id: "commands"});
  const rubric = el("div", {id: "rubric"});
  const catalog = await api("GET", "/v1/scenarios");
  async function draw() {
    const s = await api("GET", `/v1/sessions/${id}`);
    const scenario = catalog.scenarios.find(c => c.id === s.scenario) || {rubric: []};
    redraw(head,
      el("h1", {}, `${s.title}`),
      el("p", {}, `${s.candidate} · session ${s.id} · `, el("strong", {class: `state ${s.state}`}, s.state),
         s.state === "ready" ? ` · ${minutes(s.time_left_s)} left` : "", s.score !== null ? ` · score ${percent(s.score)}` : "",
         s.state === "graded" ? [" · ", el("a", {href: `#/report/${s.id}`}, "report")] : ""),
      copyable("ssh command", s.ssh.command));
    if (rubric.childElementCount === 0 && scenario.rubric && scenario.rubric.length) {
      rubric.append(el("h2", {}, "Rubric"), ...scenario.rubric.map(criterion => {
        const select = el("select", {id: `rate-${criterion.name}`},
                          criterion.levels.map((level, i) => el("option", {value: i + 1}, `${i + 1}: ${level}`)));
        return el("div", {class: "criterion"}, el("label", {for: select.id}, `${criterion.name}: ${criterion.description}`), select,
                  act(`Rate ${criterion.name}`, async () => {
                    const rated = await api("POST", `/v1/sessions/${id}/ratings`, {criterion: criterion.name, level: Number(select.value)});
                    return `${rated.criterion} rated ${rated.level} of ${rated.of}`;
                  }));
      }));
    }
    const timeline = await api("GET", `/v1/sessions/${id}/timeline`);
    events.replaceChildren(...timeline.events.map(e => el("li", {}, el("time", {}, e.time.slice(11, 19)), ` ${e.kind}: ${e.detail}`)));
    commands.replaceChildren(el("h2", {}, "Commands and file transfers"),
      timeline.channels.length === 0 ? el("p", {}, "None yet (terminals are in the recordings).") :
      el("table", {id: "channels"}, el("thead", {}, el("tr", {}, ["Started", "Type", "Host", "Command or files", "Exit"].map(h => el("th", {scope: "col"}, h)))),
         el("tbody", {}, timeline.channels.map(c => el("tr", {},
           el("td", {}, c.started.slice(11, 19)), el("td", {}, c.type), el("td", {}, c.host),
           el("td", {}, c.command ? el("code", {}, c.command) : "",
              c.operations.map(o => el("div", {}, `${o.op} ${o.path}${o.to ? " → " + o.to : ""}${o.bytes !== null ? ` (${o.bytes} bytes)` : ""}`))),
           el("td", {}, c.exit_status === null ? (c.ended ? "-" : "running") : String(c.exit_status)))))));
    const latest = new Map();
    for (const run of timeline.check_runs) latest.set(run.check, run);
    checks.replaceChildren(el("h2", {}, "Checks, as last run"), el("ul", {}, [...latest.values()].map(run =>
      el("li", {class: run.passed ? "pass" : "fail"}, `${run.passed ? "✓" : "✗"} ${run.check} (${run.phase}, ${run.time.slice(11, 19)})`))));
  }
  main.replaceChildren(head,
    el("section", {class: "live"}, el("h2", {}, "The candidate's terminal (read-only)"), box),
    el("section", {class: "actions", "aria-label": "Actions"},
       act("Extend 15 min", async () => { await api("POST", `/v1/sessions/${id}/extend`, {by: "15m"}); return "extended by 15 minutes"; }),
       act("Give the next hint", async () => { const h = await api("POST", `/v1/sessions/${id}/hint`, {}); return `hint ${h.number} of ${h.of} given`; }),
       act("Grade now", async () => { const g = await api("POST", `/v1/sessions/${id}/grade`, {}); return `${g.passed} of ${g.total} checks pass now`; }),
       act("End session", async () => { if (!confirm("End the session now? The candidate's access ends.")) return "not ended"; await api("POST", `/v1/sessions/${id}/end`, {}); return "ended; grading"; })),
    el("section", {class: "notes"}, el("h2", {}, el("label", {for: "note"}, "Note")), note,
       act("Add note", async () => { const n = await api("POST", `/v1/sessions/${id}/notes`, {text: note.value}); note.value = ""; return `noted at ${n.time}`; })),
    rubric, checks, el("section", {}, el("h2", {}, "Timeline"), events), commands);
  await draw();
  liveTerminal(id, box);
  refresh = setInterval(() => draw().catch(e => say(e.message)), 3000);
}

// --- the report page -----------------------------------------------------------------------

// Each check as a bar across the session, from ready to the end: passing from when it
// first passed, with a mark where it regressed. Plain elements, so it prints too.
function checkChart(r) {
  const start = Date.parse(r.ready_at);
  const end = Math.max(Date.parse(r.ended_at || r.deadline), start + 1000);
  const at = (time) => Math.min(100, Math.max(0, (Date.parse(time) - start) / (end - start) * 100));
  return el("div", {id: "check-chart", class: "chart", role: "list"},
    r.checks.map(c => {
      const track = el("div", {class: "track"});
      const regressions = c.regressed_at || [];
      if (c.first_passed_at) {
        const from = at(c.first_passed_at);
        const to = c.passed ? 100 : at(regressions.length ? regressions[regressions.length - 1] : r.ended_at);
        track.append(el("div", {class: "bar", style: `left:${from.toFixed(1)}%;width:${Math.max(0.5, to - from).toFixed(1)}%`}));
      }
      for (const time of regressions) track.append(el("div", {class: "mark", style: `left:${at(time).toFixed(1)}%`, title: "regressed"}));
      const label = c.first_passed_at ? `first passed at ${minutes((Date.parse(c.first_passed_at) - start) / 1000)}` : "never passed";
      return el("div", {class: "row", role: "listitem",
                        "aria-label": `${c.name}: ${label}${regressions.length ? `, regressed ${regressions.length} times` : ""}`},
                el("span", {class: "name"}, c.name), track, el("span", {class: "when"}, label));
    }));
}

// Every path the candidate changed on each host, with the diff when there is one.
function changesList(r) {
  const hosts = (r.changes || []).filter(h => h.paths.length || h.error);
  if (!hosts.length) return el("p", {}, "Nothing, or nothing that could be compared.");
  return el("div", {id: "changes"}, hosts.map(h => el("section", {},
    el("h3", {}, h.host), h.error ? el("p", {class: "error"}, h.error) : null,
    h.paths.filter(p => !p.noisy).map(p => el("details", {open: Boolean(p.diff && p.tampering)},
      el("summary", {}, `${p.change} ${p.path}${p.tampering ? " (tampering)" : ""}${p.what ? ": " + p.what : ""}`),
      p.diff ? el("pre", {class: "diff"}, p.diff.split("\n").map(line =>
        el("span", {class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : ""}, line + "\n"))) :
        el("p", {}, p.no_diff || "no diff kept"))))));
}

async function reportView(main, id) {
  const r = await api("GET", `/v1/sessions/${id}/report`);
  const ready = Date.parse(r.ready_at);
  const at = (time) => time ? minutes((Date.parse(time) - ready) / 1000) : "-";
  const recordings = await api("GET", `/v1/sessions/${id}/recording?list=1`);
  const players = el("div", {id: "recordings"});
  main.replaceChildren(
    el("h1", {}, `Report: ${r.scenario.title}`),
    el("p", {class: "score"}, `${r.candidate} · score `, el("strong", {id: "score"}, percent(r.score)),
       r.grade && r.grade.capped_by && r.grade.capped_by.length ? ` (capped by ${r.grade.capped_by.join(", ")})` : ""),
    el("h2", {}, "How the score was reached"),
    el("ul", {id: "explanation"}, ((r.grade && r.grade.explanation) || []).map(line => el("li", {}, line))),
    el("h2", {}, "When each check passed"),
    checkChart(r),
    el("h2", {}, "Checks"),
    el("table", {id: "report-checks"}, el("thead", {}, el("tr", {}, ["Check", "Expect", "Result", "First passed", "Regressed"].map(h => el("th", {scope: "col"}, h)))),
       el("tbody", {}, r.checks.map(c => el("tr", {}, el("td", {}, c.name), el("td", {}, c.expect), el("td", {class: c.passed ? "pass" : "fail"}, c.passed ? "pass" : "fail"),
                                          el("td", {}, at(c.first_passed_at)), el("td", {}, (c.regressed_at || []).map(at).join(", ") || "-"))))),
    el("h2", {}, "Rubric"),
    el("ul", {}, (r.rubric || []).map(c => el("li", {}, `${c.name}: ${c.rating ? `${c.rating.level} of ${c.rating.of}, ${c.rating.meaning}` : "not rated"}`))),
    el("h2", {}, "Notes"),
    el("ul", {}, (r.notes || []).map(n => el("li", {}, el("time", {}, n.time.slice(11, 19)), ` ${n.text}`))),
    el("h2", {}, "What the candidate changed"),
    changesList(r),
    el("h2", {}, "Recordings"), players);
  for (const name of recordings.recordings.filter(n => n.endsWith(".cast"))) {
    const box = el("div", {class: "player", "data-name": name});
    players.append(el("h3", {}, name), box);
    AsciinemaPlayer.create(`/v1/sessions/${id}/recording?name=${encodeURIComponent(name)}`, box, {fit: "width"});
  }
}

// --- routing -------------------------------------------------------------------------------

async function route() {
  leave();
  const main = document.getElementById("main");
  const [, view, id] = location.hash.match(/^#\/(session|report)\/([a-z0-9]+)$/) || [];
  try {
    if (view === "session") await sessionView(main, id);
    else if (view === "report") await reportView(main, id);
    else await sessionsView(main);
    main.focus();
  } catch (error) {
    main.replaceChildren(el("p", {class: "error", role: "alert"}, error.message));
  }
}

(async () => {
  const me = await fetch("/ui/whoami", {credentials: "same-origin"});
  if (me.status !== 200) { location.href = "/ui/login.html"; return; }
  csrf = (await me.json()).csrf;
  document.getElementById("sign-out").addEventListener("click", async () => {
    await fetch("/ui/logout", {method: "POST", headers: {"X-Breakfix-CSRF": csrf}, credentials: "same-origin"});
    location.href = "/ui/login.html";
  });
  window.addEventListener("hashchange", route);
  await route();
})();
