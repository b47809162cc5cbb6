// app.js — whale's web chat: streams /v1/chat/completions (SSE) and shows the reasoning
// (reasoning_content) in a folded block above the answer; Stop aborts the fetch, which
// makes the server cancel the generation. Conversations and settings live in
// localStorage. No dependencies.
'use strict';

const $ = (id) => document.getElementById(id);
const STORE = 'whale.chats', SETTINGS = 'whale.settings';
const state = { chats: load(STORE, []), current: null, abort: null };

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
function save() {
  try { localStorage.setItem(STORE, JSON.stringify(state.chats.slice(0, 100))); } catch { /* full */ }
}

// ---- settings ----
const fields = ['temperature', 'think-budget', 'max-tokens', 'system', 'api-key'];
function loadSettings() {
  const s = load(SETTINGS, {});
  for (const f of fields) if (s[f] !== undefined) $(f).value = s[f];
}
function saveSettings() {
  const s = {};
  for (const f of fields) s[f] = $(f).value;
  localStorage.setItem(SETTINGS, JSON.stringify(s));
}
function num(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

// ---- conversations ----
function newChat() {
  state.current = null;
  renderChat();
  renderList();
  $('input').focus();
}
function currentChat() {
  return state.chats.find((c) => c.id === state.current) ?? null;
}
function renderList() {
  const ul = $('chats');
  ul.textContent = '';
  for (const c of state.chats) {
    const li = document.createElement('li');
    if (c.id === state.current) li.className = 'current';
    const open = document.createElement('button');
    open.className = 'open';
    open.textContent = c.title || 'New chat';
    open.onclick = () => { if (!state.abort) { state.current = c.id; renderChat(); renderList(); } $('app').classList.remove('menu-open'); };
    const del = document.createElement('button');
    del.className = 'del';
    del.title = 'Delete';
    del.textContent = '\u00d7';
    del.onclick = () => {
      if (state.abort && c.id === state.current) return;
      state.chats = state.chats.filter((x) => x !== c);
      if (state.current === c.id) state.current = null;
      save(); renderList(); renderChat();
    };
    li.append(open, del);
    ul.append(li);
  }
}

// ---- messages ----
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function addUser(text) {
  const m = el('div', 'msg user');
  m.append(el('div', 'bubble', text));
  $('messages').append(m);
}
/** An assistant message view: {root, think, thinkText, summary, answer, stats}. */
function addAssistant(msg) {
  const m = el('div', 'msg assistant');
  const think = el('details', 'think');
  const summary = el('summary', null, msg.thinkLabel || 'Thought');
  const thinkText = el('div', 'think-text', msg.reasoning || '');
  think.append(summary, thinkText);
  think.hidden = !msg.reasoning;
  const answer = el('div', 'answer', msg.content || '');
  const stats = el('div', 'stats', msg.stats || '');
  m.append(think, answer, stats);
  $('messages').append(m);
  return { root: m, think, thinkText, summary, answer, stats };
}
function renderChat() {
  const box = $('messages');
  box.textContent = '';
  const c = currentChat();
  if (!c || c.messages.length === 0) {
    box.append(el('p', 'hint', 'Ask anything. The model\u2019s thinking appears in a folded block above its answer.'));
    box.firstChild.id = 'empty';
    return;
  }
  for (const msg of c.messages) {
    if (msg.role === 'user') addUser(msg.content);
    else addAssistant(msg);
  }
  box.scrollTop = box.scrollHeight;
}
function atBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 40;
}

// ---- streaming ----
function setBusy(busy) {
  $('send').hidden = busy;
  $('stop').hidden = !busy;
  $('input').disabled = false;
}

/** Reads "data: ..." events from a fetch body; calls onData with each parsed JSON. */
async function readSSE(body, onData) {
  const reader = body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        onData(JSON.parse(data));
      }
    }
  }
}

async function send(text) {
  let c = currentChat();
  if (!c) {
    c = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: text.slice(0, 40),
          messages: [], updated: Date.now() };
    state.chats.unshift(c);
    state.current = c.id;
    renderChat();
  }
  $('empty')?.remove();
  c.messages.push({ role: 'user', content: text });
  addUser(text);
  const msg = { role: 'assistant', content: '', reasoning: '' };
  c.messages.push(msg);
  const view = addAssistant(msg);
  view.answer.classList.add('cursor');
  save(); renderList();

  const history = [];
  const sys = $('system').value.trim();
  if (sys) history.push({ role: 'system', content: sys });
  for (const m of c.messages.slice(0, -1)) history.push({ role: m.role, content: m.content });
  const body = { model: $('model').textContent || 'whale', messages: history, stream: true,
                 stream_options: { include_usage: true } };
  const t = num('temperature'), tb = num('think-budget'), mt = num('max-tokens');
  if (t !== undefined) body.temperature = t;
  if (tb !== undefined) body.think_budget = tb;
  if (mt !== undefined) body.max_tokens = mt;
  const headers = { 'Content-Type': 'application/json' };
  const key = $('api-key').value.trim();
  if (key) headers.Authorization = 'Bearer ' + key;

  const ac = new AbortController();
  state.abort = ac;
  setBusy(true);
  const box = $('messages');
  const t0 = performance.now();
  let tThinkEnd = 0, usage = null, finish = '';
  try {
    const r = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(body),
                                                    signal: ac.signal });
    if (!r.ok) {
      const j = await r.json().catch(() => null);
      throw new Error(j?.error?.message || `HTTP ${r.status}`);
    }
    await readSSE(r.body, (j) => {
      if (j.error) throw new Error(j.error.message);
      if (j.usage) usage = j.usage;
      const ch = j.choices?.[0];
      if (!ch) return;
      const stick = atBottom(box);
      const d = ch.delta || {};
      if (d.reasoning_content) {
        if (!msg.reasoning) { view.think.hidden = false; view.think.open = true; }
        msg.reasoning += d.reasoning_content;
        view.thinkText.textContent = msg.reasoning;
        view.summary.textContent = 'Thinking\u2026';
      }
      if (d.content) {
        if (msg.reasoning && !tThinkEnd) {
          tThinkEnd = performance.now();
          view.think.open = false; // fold the thought once the answer starts, as the DeepSeek app does
        }
        msg.content += d.content;
        view.answer.textContent = msg.content;
      }
      if (ch.finish_reason) finish = ch.finish_reason;
      if (stick) box.scrollTop = box.scrollHeight;
    });
  } catch (e) {
    if (e.name === 'AbortError') finish = 'stopped';
    else { finish = 'error'; view.stats.classList.add('error'); msg.error = String(e.message || e); }
  } finally {
    state.abort = null;
    setBusy(false);
    view.answer.classList.remove('cursor');
    const secs = (performance.now() - t0) / 1000;
    if (msg.reasoning) {
      const ts = ((tThinkEnd || performance.now()) - t0) / 1000;
      msg.thinkLabel = `Thought for ${ts.toFixed(1)} s`;
      view.summary.textContent = msg.thinkLabel;
    }
    const parts = [];
    if (msg.error) parts.push(msg.error);
    if (finish === 'stopped') parts.push('stopped');
    else if (finish === 'length') parts.push('cut at the token limit');
    if (usage) {
      parts.push(`${usage.completion_tokens} tokens` +
                 (usage.completion_tokens_details?.reasoning_tokens ? ` (${usage.completion_tokens_details.reasoning_tokens} thinking)` : '') +
                 `, ${(usage.completion_tokens / secs).toFixed(1)} tok/s`);
    }
    msg.stats = parts.join(' \u00b7 ');
    view.stats.textContent = msg.stats;
    c.updated = Date.now();
    save();
    $('input').focus();
  }
}

// ---- wiring ----
$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = $('input').value.trim();
  if (!text || state.abort) return;
  $('input').value = '';
  autosize();
  send(text);
});
$('input').addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $('composer').requestSubmit();
  }
});
function autosize() {
  const t = $('input');
  t.style.height = 'auto';
  t.style.height = Math.min(t.scrollHeight + 2, window.innerHeight * 0.4) + 'px';
}
$('input').addEventListener('input', autosize);
$('stop').onclick = () => state.abort?.abort();
$('new-chat').onclick = () => { if (!state.abort) newChat(); $('app').classList.remove('menu-open'); };
$('menu').onclick = (ev) => { ev.stopPropagation(); $('app').classList.toggle('menu-open'); };
// on a phone the open sidebar covers the menu button: a tap beside it closes it
document.querySelector('main').addEventListener('click', () => $('app').classList.remove('menu-open'));
$('settings-btn').onclick = () => { $('settings').hidden = !$('settings').hidden; };
for (const f of fields) $(f).addEventListener('change', saveSettings);

loadSettings();
renderList();
renderChat();
fetch('/v1/models', { headers: $('api-key').value ? { Authorization: 'Bearer ' + $('api-key').value } : {} })
  .then((r) => r.json()).then((j) => { $('model').textContent = j.data?.[0]?.id ?? ''; }).catch(() => {});
