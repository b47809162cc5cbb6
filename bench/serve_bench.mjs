// serve_bench.mjs — continuous batching, measured through the HTTP API: starts
// `whale serve --parallel 16` on a model, then for 1, 4, 8 and 16 concurrent streaming
// clients (each asking for GEN tokens with EOS banned, so every stream is as long as
// asked) reports aggregate decode tokens/s, per-stream tokens/s and the median time to
// first token. The batching gain is aggregate(N) / aggregate(1).
//   [CTX=N] node bench/serve_bench.mjs MODEL [GEN=64] [REPS=3]
// Loopback only; every loop is bounded.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, process.env.BUILD || 'build', 'whale');
const model = process.argv[2];
const GEN = Number(process.argv[3] || 64);
const REPS = Number(process.argv[4] || 3);
if (!model) {
  console.error('usage: node bench/serve_bench.mjs MODEL [GEN] [REPS]');
  process.exit(2);
}

function start() {
  return new Promise((resolve, reject) => {
    const ctx = process.env.CTX ? ['--ctx', process.env.CTX] : [];
    const proc = spawn(bin, ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0',
      '--parallel', '16', ...ctx], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(log)); }, 120000);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m && /whale: ready:/.test(log)) { clearTimeout(timer); resolve({ url: m[1], proc }); }
    });
    proc.once('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}: ${log}`)); });
  });
}

async function stream(url, seed) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'm', stream: true, max_tokens: GEN, seed, temperature: 0.8,
      logit_bias: { 1: -100 }, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `Tell me about the number ${seed}.` }],
    }),
  });
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let first = null, buf = '', tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (first === null) first = performance.now() - t0;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  return { ttft: first, ms: performance.now() - t0, tokens };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

const srv = await start();
console.log(`model: ${model}; ${GEN} tokens per stream; medians of ${REPS} runs`);
console.log('streams | aggregate tok/s | per-stream tok/s | TTFT ms (median) | gain vs 1');
let base = null;
try {
  for (const n of [1, 4, 8, 16]) {
    const agg = [], per = [], ttft = [];
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      const out = await Promise.all(Array.from({ length: n }, (_, k) => stream(srv.url, 1000 * r + k)));
      const wall = (performance.now() - t0) / 1000;
      const total = out.reduce((a, o) => a + o.tokens, 0);
      agg.push(total / wall);
      per.push(median(out.map((o) => o.tokens / (o.ms / 1000))));
      ttft.push(median(out.map((o) => o.ttft)));
    }
    const a = median(agg);
    if (base === null) base = a;
    console.log(`${String(n).padStart(7)} | ${a.toFixed(1).padStart(15)} | ${median(per).toFixed(1).padStart(16)} | ` +
      `${median(ttft).toFixed(0).padStart(16)} | ${(a / base).toFixed(2).padStart(9)}`);
  }
} finally {
  srv.proc.kill('SIGTERM');
}
