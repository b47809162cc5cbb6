// load.mjs — load and abuse tests of `whale serve` (issue 8), on loopback only:
//   1. soak: 32 concurrent streaming clients for SOAK_SECONDS (default 300) against
//      --parallel 8 --queue 64; every SSE chunk must parse, every stream end with
//      [DONE], no error, no crash, and VmRSS growth <= 5% from minute 1 to the end;
//   2. 1,000 connect-and-drop clients (50 at a time; each drops right after sending,
//      after the response headers, or after the first chunk), then every slot and the
//      queue are free within 1 s (read from /metrics);
//   3. slow clients (20 sending headers a byte per 200 ms, 4 sending a body that way)
//      are dropped by the server within its documented --timeout (30 s by default)
//      while normal requests keep being served;
//   4. abuse: a 100 MB body (declared, and chunked without a length) -> 413 quickly
//      with RSS bounded; invalid UTF-8 -> 400 invalid_json; 100,000 nested '[' -> 400;
//      a prompt longer than the context -> 400 context_length_exceeded; and a valid
//      request served after each.
// Prints one line per check and "N passed, N failed"; exits 1 on any failure. Every
// loop is bounded in count and in time, and the whole run has a hard deadline.
// Run: make test-load (or BUILD=build node tests/serve/load.mjs). No npm packages needed.
import net from 'node:net';
import fs from 'node:fs';
import { metric, sleep, startServer } from './server.mjs';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SOAK_CLIENTS = Number(process.env.SOAK_CLIENTS ?? 32);
const DROP_CLIENTS = Number(process.env.DROP_CLIENTS ?? 1000);
const DROP_CONCURRENCY = 50;
const SLOW_HEADER_CLIENTS = 20;
const SLOW_BODY_CLIENTS = 4;
const SLOW_BYTE_MS = 200;
const SERVER_TIMEOUT_S = 30; // whale serve's documented default --timeout (docs/SERVER.md)
const HARD_DEADLINE_S = SOAK_SECONDS + 300;
// LOAD_ONLY=soak,drop,slow,abuse runs a subset (for development; make test-load runs all)
const ONLY = (process.env.LOAD_ONLY ?? 'soak,drop,slow,abuse').split(',');

const t00 = Date.now();
const elapsed = () => ((Date.now() - t00) / 1000).toFixed(1);
let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
}
function note(s) {
  console.log(`     [${elapsed()} s] ${s}`);
}

const rnd = (lo, hi) => lo + Math.floor(Math.random() * (hi - lo + 1));
const word = () => Array.from({ length: rnd(1, 8) }, () => String.fromCharCode(rnd(97, 122))).join('');

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

function threads(pid) {
  try {
    return Number(/Threads:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return NaN;
  }
}

/** RSS at rest: once the clients' idle keep-alive sockets have closed (node closes them
 * after 4 s) and the server's connection threads are gone (at most 15 s). */
async function rssAtRest(pid, baseThreads) {
  for (let i = 0; i < 75 && threads(pid) > baseThreads; i++) await sleep(200);
  await sleep(500);
  return { rss: rssKiB(pid), threads: threads(pid) };
}

async function metrics(url) {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const get = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(name + ' '));
    return line === undefined ? NaN : Number(line.slice(name.length + 1));
  };
  return { text, get };
}

/** One streamed request read to [DONE]; validates every SSE event. Returns a summary
 * or throws with the reason. */
async function streamOnce(url, { kind = 'chat', maxTokens = rnd(8, 64), timeoutMs = 60000 } = {}) {
  const body =
    kind === 'chat'
      ? { messages: [{ role: 'user', content: word() }], stream: true, max_tokens: maxTokens,
        seed: rnd(0, 2 ** 31), stream_options: { include_usage: Math.random() < 0.5 } }
      : { prompt: word(), stream: true, max_tokens: maxTokens, seed: rnd(0, 2 ** 31) };
  const r = await fetch(`${url}/v1/${kind === 'chat' ? 'chat/completions' : 'completions'}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${(await r.text()).slice(0, 200)}`);
  if (!/^text\/event-stream/.test(r.headers.get('content-type') ?? ''))
    throw new Error(`content-type ${r.headers.get('content-type')}`);
  const dec = new TextDecoder('utf-8', { fatal: true });
  let buf = '';
  let chunks = 0;
  let done = false;
  let finish = null;
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (done) throw new Error(`event after [DONE]: ${ev.slice(0, 100)}`);
      if (ev.startsWith(':')) continue; // an SSE comment (the server's keep-alive)
      if (!ev.startsWith('data: ')) throw new Error(`not an SSE data event: ${ev.slice(0, 100)}`);
      const payload = ev.slice(6);
      if (payload === '[DONE]') {
        done = true;
        continue;
      }
      const j = JSON.parse(payload); // throws on a malformed chunk
      if (j.error) throw new Error(`error event: ${payload.slice(0, 200)}`);
      const want = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
      if (j.object !== want || !Array.isArray(j.choices)) throw new Error(`bad chunk: ${payload.slice(0, 200)}`);
      for (const c of j.choices) if (c.finish_reason) finish = c.finish_reason;
      chunks++;
    }
  }
  dec.decode();
  if (!done) throw new Error('stream ended without [DONE]');
  if (buf !== '') throw new Error(`trailing bytes after [DONE]: ${buf.slice(0, 100)}`);
  if (finish !== 'stop' && finish !== 'length') throw new Error(`finish_reason ${finish}`);
  return { chunks };
}

/** A raw HTTP exchange on a fresh socket: writes head (+ body), collects the answer.
 * Resolves {status, text, closedAfterMs, error}. Bounded by timeoutMs. */
function raw(port, data, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    const parts = [];
    let error = null;
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('error', (e) => (error = e.code ?? String(e)));
    sock.on('data', (d) => parts.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closedAfterMs: Date.now() - t0, error });
    });
    sock.write(data);
  });
}

function httpPost(path, body, extra = '') {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${b.length}\r\nConnection: close\r\n${extra}\r\n`, 'latin1'),
    b,
  ]);
}

function errorOf(text) {
  const i = text.indexOf('\r\n\r\n');
  try {
    return JSON.parse(text.slice(i + 4)).error ?? null;
  } catch {
    return null;
  }
}

/** A valid streamed request still works: used after each abuse case. */
async function stillServes(url) {
  try {
    await streamOnce(url, { maxTokens: 8, timeoutMs: 30000 });
    return true;
  } catch (e) {
    return `valid request failed afterwards: ${e.message}`;
  }
}

// ---- 1. soak ----------------------------------------------------------------------
async function soak(srv) {
  const pid = srv.proc.pid;
  let end = Date.now() + SOAK_SECONDS * 1000;
  const rssAt = Math.min(60, SOAK_SECONDS / 5) * 1000; // "minute 1" (earlier for short runs)
  const stats = { requests: 0, chunks: 0, errors: 0, firstErrors: [] };
  const rss = [];
  // RSS is compared at rest: at minute 1 every client pauses after its current request
  // (at most 30 s), the server's RSS is read once its connection threads are gone
  // (rssAtRest), and the clients go on; at the end it is read the same way. Under load
  // RSS follows the connection threads (one each: stacks, malloc's per-thread arenas),
  // which come and go with the clients' sockets; those samples are reported, not compared.
  const baseThreads = threads(pid);
  let paused = false;
  let idle = 0;
  const tStart = Date.now();
  const sampler = setInterval(() => rss.push([Date.now() - tStart, rssKiB(pid)]), 1000);
  async function client(k) {
    // bounded: at most one request per 10 ms of soak per client, and by time
    for (let i = 0; i < SOAK_SECONDS * 100 && Date.now() < end; i++) {
      if (paused) {
        idle++;
        for (let w = 0; w < 600 && paused; w++) await sleep(50);
        idle--;
      }
      try {
        const r = await streamOnce(srv.url, { kind: (k + i) % 4 === 3 ? 'completion' : 'chat' });
        stats.requests++;
        stats.chunks += r.chunks;
      } catch (e) {
        stats.errors++;
        if (stats.firstErrors.length < 5) stats.firstErrors.push(String(e.message ?? e));
        await sleep(100);
      }
    }
  }
  const t0 = Date.now();
  let rssRest1 = NaN;
  const pauser = (async () => {
    await sleep(rssAt);
    paused = true;
    for (let w = 0; w < 600 && idle < SOAK_CLIENTS; w++) await sleep(50);
    const p0 = Date.now();
    rssRest1 = (await rssAtRest(pid, baseThreads)).rss;
    end += Date.now() - p0; // the pause does not count as soak time
    paused = false;
  })();
  let lastReport = t0;
  const progress = setInterval(() => {
    if (Date.now() - lastReport >= 60000) {
      lastReport = Date.now();
      note(`soak: ${stats.requests} requests, ${stats.errors} errors, RSS ${rssKiB(pid)} KiB`);
    }
  }, 5000);
  await Promise.all(Array.from({ length: SOAK_CLIENTS }, (_, k) => client(k)));
  await pauser;
  clearInterval(sampler);
  const rest = await rssAtRest(pid, baseThreads);
  clearInterval(progress);
  const secs = (Date.now() - t0) / 1000;
  const alive = srv.proc.exitCode === null && srv.proc.signalCode === null;
  const load1 = rss.find(([t]) => t >= rssAt - 2000)?.[1] ?? rss[0]?.[1];
  const loadEnd = rss[rss.length - 1]?.[1];
  const at1 = rssRest1;
  const last = rest.rss;
  const peak = Math.max(...rss.map(([, v]) => v));
  const growth = ((last - at1) / at1) * 100;
  // minute 1 is past the warm-up (threads, arenas, caches) only in a long enough soak
  const rssChecked = SOAK_SECONDS >= 120;
  const gen = await metric(srv.url, 'whale_generated_tokens_total');
  check('1 soak', alive && stats.errors === 0 && stats.requests > 0 && (growth <= 5 || !rssChecked),
    `${SOAK_CLIENTS} streaming clients for ${secs.toFixed(0)} s: ${stats.requests} requests ` +
    `(${(stats.requests / secs).toFixed(1)}/s), ${stats.chunks} chunks, ${gen} tokens generated, ` +
    `${stats.errors} errors, server ${alive ? 'alive' : 'DEAD'}; RSS at rest ${at1} KiB at ` +
    `${(rssAt / 1000).toFixed(0)} s -> ${last} KiB at the end (${growth >= 0 ? '+' : ''}${growth.toFixed(2)}%, ` +
    `${rssChecked ? 'limit +5%' : 'not checked: soak under 120 s'}; server threads ${baseThreads} at start, ` +
    `${rest.threads} at rest; under load ${load1} -> ${loadEnd} KiB, peak ${peak} KiB)` + (stats.firstErrors.length ? `; first errors: ${stats.firstErrors.join(' | ')}` : ''));
}

// ---- 2. connect and drop ------------------------------------------------------------
/** One connect-and-drop client; a 429 (slots and queue full of requests not yet
 * noticed as dropped) is retried, at most 100 times, so that each client drops a
 * request the server accepted. Resolves {status, retries}. */
async function dropOne(port, mode) {
  let status = 0;
  let retries = 0;
  for (; retries < 100; retries++) {
    status = await dropAttempt(port, mode);
    if (status !== 429) break;
    await sleep(rnd(20, 60));
  }
  return { status, retries };
}

function dropAttempt(port, mode) {
  const body = JSON.stringify({ messages: [{ role: 'user', content: word() }], stream: true,
    max_tokens: 64, seed: rnd(0, 1e9), logit_bias: { 1: -100 } });
  const req = httpPost('/v1/chat/completions', body);
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let status = 0;
    const timer = setTimeout(() => sock.destroy(), 20000);
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(status);
    });
    sock.on('data', (d) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) status = Number(m[1]);
      if (mode === 'headers' && got.includes('\r\n\r\n')) sock.destroy();
      if (mode === 'chunk' && /\r\n\r\n[\s\S]*data: /.test(got)) sock.destroy();
      if (status && status !== 200) sock.destroy();
    });
    if (mode === 'immediate') sock.write(req, () => sock.destroy());
    else sock.write(req);
  });
}

async function connectAndDrop(srv) {
  const port = Number(new URL(srv.url).port);
  const modes = ['immediate', 'headers', 'chunk'];
  const statuses = {};
  let retries = 0;
  let next = 0;
  const t0 = Date.now();
  const deadline = t0 + 180000;
  async function worker() {
    while (next < DROP_CLIENTS && Date.now() < deadline) {
      const i = next++;
      const { status: s, retries: r } = await dropOne(port, modes[i % 3]);
      statuses[s] = (statuses[s] ?? 0) + 1;
      retries += r;
    }
  }
  await Promise.all(Array.from({ length: DROP_CONCURRENCY }, worker));
  const tLast = Date.now();
  let freeMs = NaN;
  let last = null;
  for (let i = 0; i < 100; i++) { // up to 5 s of polling, 50 ms apart
    const m = await metrics(srv.url);
    last = { active: m.get('whale_slots_active'), queued: m.get('whale_queue_depth'),
      inflight: m.get('whale_http_requests_in_flight') };
    if (last.active === 0 && last.queued === 0) {
      freeMs = Date.now() - tLast;
      break;
    }
    await sleep(50);
  }
  const m = await metrics(srv.url);
  const cancelled = m.get('whale_engine_requests_cancelled_total');
  const served = await stillServes(srv.url);
  const done = Object.values(statuses).reduce((a, b) => a + b, 0);
  check('2 connect-and-drop', done === DROP_CLIENTS && !statuses[429] && freeMs <= 1000 && served === true,
    `${done} clients in ${((tLast - t0) / 1000).toFixed(1)} s (${DROP_CONCURRENCY} at a time; ` +
    `final statuses ${JSON.stringify(statuses)}, 0 = dropped before any answer; ${retries} retries after 429); every slot and the ` +
    `queue free ${Number.isNaN(freeMs) ? 'NOT within 5 s' : `${freeMs} ms`} after the last ` +
    `(limit 1000 ms; ${JSON.stringify(last)}); ${cancelled} engine requests cancelled so far` +
    (served === true ? '; valid request served after' : `; ${served}`));
}

// ---- 3. slow clients ----------------------------------------------------------------
function slowClient(port, kind, k) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    if (kind === 'header') {
      // never finishes within the timeout: the request line and headers ~1 KB
      data = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow-${k}: ${'a'.repeat(1000)}\r\n\r\n`;
    } else {
      const body = `{"messages":[{"role":"user","content":"${'b'.repeat(1000)}"}]}`;
      sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`);
      data = body;
    }
    let i = 0;
    let answer = '';
    const iv = setInterval(() => {
      if (i < data.length && !sock.destroyed) sock.write(data[i++]);
    }, SLOW_BYTE_MS);
    const cap = setTimeout(() => sock.destroy(), (SERVER_TIMEOUT_S + 30) * 1000);
    sock.on('error', () => {});
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('close', () => {
      clearInterval(iv);
      clearTimeout(cap);
      resolve({ secs: (Date.now() - t0) / 1000, sent: i, answer: answer.slice(0, 40) });
    });
  });
}

async function slowClients(srv) {
  const port = Number(new URL(srv.url).port);
  const before = await metric(srv.url, 'whale_http_timeouts_total');
  const slow = [
    ...Array.from({ length: SLOW_HEADER_CLIENTS }, (_, k) => slowClient(port, 'header', k)),
    ...Array.from({ length: SLOW_BODY_CLIENTS }, (_, k) => slowClient(port, 'body', k)),
  ];
  let doneSlow = false;
  const all = Promise.all(slow).then((r) => {
    doneSlow = true;
    return r;
  });
  // normal traffic meanwhile: streamed and whole requests, one after another
  let okN = 0;
  const errs = [];
  const lat = [];
  for (let i = 0; i < 1000 && !doneSlow; i++) {
    const t = Date.now();
    try {
      if (i % 2 === 0) await streamOnce(srv.url, { maxTokens: 16, timeoutMs: 20000 });
      else {
        const r = await fetch(`${srv.url}/v1/chat/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: word() }], max_tokens: 16 }),
          signal: AbortSignal.timeout(20000),
        });
        const j = await r.json();
        if (r.status !== 200 || !j.choices) throw new Error(`status ${r.status}`);
      }
      okN++;
      lat.push(Date.now() - t);
    } catch (e) {
      errs.push(e.message);
    }
    await sleep(200);
  }
  const res = await all;
  const after = await metric(srv.url, 'whale_http_timeouts_total');
  const secs = res.map((r) => r.secs);
  const lo = Math.min(...secs);
  const hi = Math.max(...secs);
  const inTime = secs.every((s) => s >= SERVER_TIMEOUT_S - 1 && s <= SERVER_TIMEOUT_S + 3);
  lat.sort((a, b) => a - b);
  check('3 slow clients', inTime && errs.length === 0 && okN > 0 && after - before >= slow.length,
    `${SLOW_HEADER_CLIENTS} header + ${SLOW_BODY_CLIENTS} body clients at 1 byte/${SLOW_BYTE_MS} ms ` +
    `dropped by the server after ${lo.toFixed(1)}-${hi.toFixed(1)} s (timeout ${SERVER_TIMEOUT_S} s; ` +
    `accepted ${SERVER_TIMEOUT_S - 1}-${SERVER_TIMEOUT_S + 3} s), whale_http_timeouts_total +${after - before}; ` +
    `meanwhile ${okN} normal requests served, ${errs.length} failed` +
    (lat.length ? ` (median ${lat[lat.length >> 1]} ms, max ${lat[lat.length - 1]} ms)` : '') +
    (errs.length ? `: ${errs.slice(0, 3).join(' | ')}` : ''));
}

// ---- 4. abuse -----------------------------------------------------------------------
/** Streams `total` bytes of body in 1 MiB chunks (respecting backpressure) until the
 * server answers or closes. chunked: Transfer-Encoding: chunked, no length declared. */
function bigBody(port, total, chunked) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let firstAnswerMs = NaN;
    let stop = false;
    const timer = setTimeout(() => sock.destroy(), 60000);
    sock.on('error', () => (stop = true));
    sock.on('data', (d) => {
      if (Number.isNaN(firstAnswerMs)) firstAnswerMs = Date.now() - t0;
      answer += d.toString('latin1');
      stop = true;
      // the whole answer read: done (the server closes too, once it has dropped the rest)
      const h = answer.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: (\d+)/i.exec(answer);
      if (h >= 0 && len && answer.length >= h + 4 + Number(len[1])) sock.end();
    });
    sock.on('close', () => {
      stop = true;
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      resolve({ status: m ? Number(m[1]) : 0, sent, ms: Date.now() - t0, firstAnswerMs, answer });
    });
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      (chunked ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${total}\r\n`) + '\r\n';
    const piece = Buffer.alloc(1 << 20, 0x20);
    piece.write('{"messages":[{"role":"user","content":"', 0);
    const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
    const pump = () => {
      while (!stop && sent < total) {
        sent += piece.length;
        if (!sock.write(framed)) return sock.once('drain', pump);
      }
      if (!stop && chunked) sock.write('0\r\n\r\n');
    };
    sock.write(head, pump);
  });
}

async function abuse(srv) {
  const port = Number(new URL(srv.url).port);
  const pid = srv.proc.pid;
  const chat = '/v1/chat/completions';

  // 100 MB bodies
  for (const chunked of [false, true]) {
    const rss0 = rssKiB(pid);
    let peak = rss0;
    const iv = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 20);
    const r = await bigBody(port, 100 * 1024 * 1024, chunked);
    clearInterval(iv);
    peak = Math.max(peak, rssKiB(pid));
    const e = errorOf(r.answer);
    const served = await stillServes(srv.url);
    const grew = peak - rss0;
    check(`4a 100 MB body (${chunked ? 'chunked, no length' : 'Content-Length'})`,
      r.status === 413 && e?.code === 'request_too_large' && r.ms < 10000 && grew < 16 * 1024 && served === true,
      `${r.status} ${e?.code ?? '(no error JSON)'} after ${r.firstAnswerMs} ms, connection closed after ` +
      `${r.ms} ms, ${(r.sent / 1048576).toFixed(0)} MiB sent; server RSS ${rss0} -> peak ${peak} KiB ` +
      `(+${grew} KiB, limit +16 MiB)` + (served === true ? '; valid request served after' : `; ${served}`));
  }

  // invalid UTF-8 in message content: docs/SERVER.md says 400 invalid_json (strict RFC 8259)
  {
    const body = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"a'),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('b"}],"max_tokens":8}')]);
    const r = await raw(port, httpPost(chat, body));
    const e = errorOf(r.text);
    const served = await stillServes(srv.url);
    check('4b invalid UTF-8 in content', r.status === 400 && e?.code === 'invalid_json' && served === true,
      `${r.status} ${e?.type}/${e?.code}: "${e?.message}"` + (served === true ? '; valid request served after' : `; ${served}`));
    // an escaped lone surrogate is valid JSON text but not a valid string: a clean 200 or 400
    const r2 = await raw(port, httpPost(chat, '{"messages":[{"role":"user","content":"x\\ud800y"}],"max_tokens":8}'));
    const e2 = errorOf(r2.text);
    const served2 = await stillServes(srv.url);
    check('4b escaped lone surrogate \\ud800', (r2.status === 200 || (r2.status === 400 && e2?.code)) && served2 === true,
      `${r2.status}${e2 ? ` ${e2.code}: "${e2.message}"` : ''}` + (served2 === true ? '; valid request served after' : `; ${served2}`));
  }

  // deeply nested JSON
  for (const [name, body] of [['100,000 [', '['.repeat(100000)],
    ['100,000 { in a field', `{"messages":${'{"a":'.repeat(100000)}1${'}'.repeat(100000)}}`]]) {
    const t = Date.now();
    const r = await raw(port, httpPost(chat, body));
    const e = errorOf(r.text);
    const served = await stillServes(srv.url);
    check(`4c nested JSON (${name})`, r.status === 400 && e?.code === 'invalid_json' && served === true,
      `${r.status} ${e?.code}: "${e?.message}" in ${Date.now() - t} ms` + (served === true ? '; valid request served after' : `; ${served}`));
  }

  // prompts longer than the context
  for (const [name, path, body, param] of [
    ['chat', chat, { messages: [{ role: 'user', content: 'x'.repeat(5000) }] }, 'messages'],
    ['completion', '/v1/completions', { prompt: 'y'.repeat(5000), stream: true }, 'prompt'],
    ['max_tokens beyond', chat, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 100000 }, 'max_tokens'],
  ]) {
    const r = await raw(port, httpPost(path, JSON.stringify(body)));
    const e = errorOf(r.text);
    const served = await stillServes(srv.url);
    check(`4d prompt beyond the context (${name})`,
      r.status === 400 && e?.code === 'context_length_exceeded' && e?.param === param && /context/.test(e?.message ?? '') && served === true,
      `${r.status} ${e?.code} param=${e?.param}: "${e?.message}"` + (served === true ? '; valid request served after' : `; ${served}`));
  }
}

// ---- main ---------------------------------------------------------------------------
const hard = setTimeout(() => {
  console.log(`FAIL hard deadline: the run took over ${HARD_DEADLINE_S} s`);
  process.exit(1);
}, HARD_DEADLINE_S * 1000);
hard.unref();

let srv = null;
try {
  srv = await startServer(['--parallel', '8', '--queue', '64']);
  note(`whale serve pid ${srv.proc.pid} at ${srv.url} (--parallel 8 --queue 64, --timeout default ` +
    `${SERVER_TIMEOUT_S} s); load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}` +
    ` on ${(await import('node:os')).cpus().length} CPUs`);
  for (const [name, fn, key] of [['soak', soak, 'soak'], ['connect-and-drop', connectAndDrop, 'drop'],
    ['slow clients', slowClients, 'slow'], ['abuse', abuse, 'abuse']]) {
    if (!ONLY.includes(key)) continue;
    note(`${name} ...`);
    try {
      await fn(srv);
    } catch (e) {
      check(name, false, `threw: ${e.stack ?? e}`);
    }
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) {
      check('server alive', false, `whale serve died (${srv.proc.exitCode ?? srv.proc.signalCode}):\n${srv.log().slice(-2000)}`);
      break;
    }
  }
} catch (e) {
  check('start', false, String(e.stack ?? e));
}
if (srv) {
  const code = await srv.stop();
  check('clean shutdown', code === 0, `exit status ${code} on SIGTERM`);
}
note(`load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
console.log(`${passed} passed, ${failed} failed (${elapsed()} s)`);
process.exit(failed ? 1 : 0);
