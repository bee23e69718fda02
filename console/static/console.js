// weibao console: a little vanilla JavaScript, no build step. Every text it
// shows comes from the page (the server's catalogue) or from the server's
// answers, and is set with textContent, never as HTML.
"use strict";

function $(sel) { return document.querySelector(sel); }

async function api(method, url, body) {
  const res = await fetch(url, {
    method, credentials: "same-origin",
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { const j = await res.json(); msg = j.message || j.error || msg; } catch (e) {}
    throw new Error(msg);
  }
  return res;
}

// show reports the outcome of a form under it.
function show(form, err) {
  const ok = form.querySelector(".ok"), bad = form.querySelector(".error");
  if (ok) ok.hidden = !!err;
  if (bad) { bad.hidden = !err; bad.textContent = err ? err.message : ""; }
}

// Login: the admin API sets the session cookie.
const login = $("#login");
if (login) login.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/v1/login/token", {token: $("#token").value});
    location.href = "/console/";
  } catch (e) { $("#login-error").hidden = false; }
});

// The one-time code the bot sent after a WeCom login makes the session
// strong enough to change the roster.
const code = $("#code");
if (code) code.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/v1/login/code", {code: new FormData(code).get("code")});
    location.href = "/console/";
  } catch (e) { show(code, e); }
});

const logout = $("#logout");
if (logout) logout.addEventListener("click", async (ev) => {
  ev.preventDefault();
  try { await api("POST", "/api/v1/logout"); } catch (e) {}
  location.href = "/console/login";
});

// Live board: the event stream says a ticket changed; the rows are fetched
// again, rendered by the server. Between changes the clocks count down here.
const rows = $("#rows");
if (rows) {
  const live = $("#live");
  let pending = false;
  async function redraw() {
    if (pending) return;
    pending = true;
    try {
      const res = await fetch("/console/board/rows", {credentials: "same-origin"});
      if (res.ok) {
        rows.innerHTML = await res.text(); // server-rendered, escaped by html/template
        $("#empty").hidden = rows.children.length > 0;
      }
    } finally { pending = false; }
  }
  const es = new EventSource("/console/events");
  es.onopen = () => { live.textContent = live.dataset.live; redraw(); };
  es.onmessage = () => redraw();
  es.onerror = () => { live.textContent = live.dataset.offline; };
  setInterval(() => {
    const now = Date.now();
    for (const tr of rows.querySelectorAll("tr[data-due]")) {
      const due = +tr.dataset.due, start = +tr.dataset.start, left = due - now, total = due - start;
      const lvl = left <= 0 ? "breached" : left * 4 < total ? "near" : left * 2 < total ? "warn" : "ok";
      if (!tr.classList.contains("lvl-" + lvl)) redraw();
    }
  }, 15000);
}

// Fault analysis: the engineer's three answers go to the report API.
const analysis = $("#analysis");
if (analysis) analysis.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = new FormData(analysis);
  try {
    await api("POST", "/api/v1/tickets/" + encodeURIComponent(analysis.dataset.no) + "/analysis",
      {cause: f.get("cause"), impact: f.get("impact"), conclusion: f.get("conclusion")});
    show(analysis, null);
  } catch (e) { show(analysis, e); }
});

// On-call overrides: set or remove one day's through the admin API.
const override = $("#override");
if (override) {
  const path = () => "/api/v1/oncall/overrides/" + encodeURIComponent(new FormData(override).get("date"));
  override.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(override);
    try {
      await api("PUT", path(), {primary: f.get("primary"), backup: f.get("backup")});
      location.reload();
    } catch (e) { show(override, e); }
  });
  $("#override-delete").addEventListener("click", async () => {
    try { await api("DELETE", path()); location.reload(); } catch (e) { show(override, e); }
  });
  for (const cell of document.querySelectorAll(".month .cell[data-date]")) {
    cell.addEventListener("click", () => { override.elements.date.value = cell.dataset.date; });
  }
}

// /try: the transcript streams in; the page shows what the chosen person
// would see in WeCom, and sends lines and card clicks as that person.
const transcript = $("#transcript");
if (transcript) {
  const names = JSON.parse($("#names").textContent || "{}");
  const as = $("#as"), where = $("#in"), all = $("#all");
  const you = $("#try").dataset.you, priv = $("#try").dataset.private;
  const items = [];
  const cards = {}; // task id -> card element, for updates
  as.addEventListener("change", () => { where.value = as.selectedOptions[0].dataset.chat; draw(); });
  all.addEventListener("change", draw);
  where.value = as.selectedOptions[0].dataset.chat;

  function sees(it, user) {
    if (all.checked || it.kind === "note") return true;
    const chat = as.selectedOptions[0].dataset.chat;
    if (it.kind === "said") return it.from === user || (it.chat && it.chat === chat);
    if (it.chat) return it.chat === chat || (it.mentions || []).includes(names[user]);
    return (it.to || []).includes(user);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function bubble(it) {
    const b = el("div", "msg " + it.kind);
    b.dataset.seq = it.seq;
    if (it.kind === "said") {
      b.append(el("span", "where", (it.from === as.value ? you : names[it.from] || it.from) + (it.chat ? "" : " · " + priv)));
    } else if (it.where) {
      b.append(el("span", "where", it.where + (it.to && it.kind === "page" ? " → " + it.to.map(u => names[u] || u).join("、") : "")));
    }
    for (const m of it.mentions || []) b.append(el("span", "mention", "@" + m));
    if (it.text) b.append(document.createTextNode(it.text));
    if (it.file) b.append(el("div", "", "📎 " + it.file));
    if (it.card) {
      const k = el("div", "kcard");
      k.dataset.task = it.card.task;
      k.append(el("b", "", it.card.title));
      if (it.card.body) k.append(el("div", "", it.card.body));
      for (const f of it.card.fields || []) k.append(el("div", "", f.Label + "：" + f.Value));
      const bs = el("div", "buttons");
      for (const bt of it.card.buttons || []) {
        const btn = el("button", "", bt.Text);
        btn.type = "button";
        btn.dataset.key = bt.Key;
        btn.addEventListener("click", () => send({text: bt.Text, key: bt.Key, task: it.card.task, in: ""}));
        bs.append(btn);
      }
      k.append(bs);
      const upd = updates[it.card.task];
      if (upd) { bs.replaceWith(el("div", "replaced", upd)); }
      b.append(k);
    }
    return b;
  }

  const updates = {}; // task id -> the text that replaced its buttons
  function draw() {
    transcript.textContent = "";
    for (const it of items) if (!it.update && sees(it, as.value)) transcript.append(bubble(it));
    window.scrollTo(0, document.body.scrollHeight);
  }

  const es = new EventSource("/try/events");
  es.onmessage = (ev) => {
    const it = JSON.parse(ev.data);
    if (items.length && items[items.length - 1].seq >= it.seq) return;
    items.push(it);
    if (it.update) { updates[it.update] = it.replaced; draw(); return; }
    if (sees(it, as.value)) { transcript.append(bubble(it)); window.scrollTo(0, document.body.scrollHeight); }
  };

  async function send(line) {
    const body = Object.assign({as: as.value, in: where.value}, line);
    try { await api("POST", "/try/say", body); }
    catch (e) { items.push({seq: 0, kind: "note", text: e.message}); draw(); }
  }
  $("#say").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("#text");
    if (!t.value.trim()) return;
    send({text: t.value});
    t.value = "";
  });
  $("#later").addEventListener("click", () => send({text: "/later 5m"}));
}
