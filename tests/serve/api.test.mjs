// api.test.mjs — the official openai SDK against `whale serve`: chat and completions,
// streamed and whole, reasoning_content, usage, n > 1, 16 concurrent streams that each
// match their solo run, client disconnects, every bad-input class answered with the
// right status and error type (and a valid request still works afterwards), the API
// key, CORS, 429 when slots and queue are full, and a clean SIGTERM shutdown.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { metric, sleep, startServer } from './server.mjs';

const EOS_BAN = { 1: -100 }; // the fixture's EOS is id 1: banning it makes replies run long
const hi = [{ role: 'user', content: 'hi' }];

/** Collects a streamed chat completion: text per choice, finish reasons, usage. */
async function collect(stream) {
  const out = { content: {}, reasoning: {}, finish: {}, usage: null, chunks: 0, roles: 0 };
  for await (const ch of stream) {
    out.chunks++;
    if (ch.usage) out.usage = ch.usage;
    for (const c of ch.choices) {
      const d = c.delta ?? {};
      if (d.role) out.roles++;
      if (typeof d.content === 'string') out.content[c.index] = (out.content[c.index] ?? '') + d.content;
      if (typeof d.reasoning_content === 'string')
        out.reasoning[c.index] = (out.reasoning[c.index] ?? '') + d.reasoning_content;
      if (typeof c.text === 'string') out.content[c.index] = (out.content[c.index] ?? '') + c.text;
      if (c.finish_reason) out.finish[c.index] = c.finish_reason;
    }
  }
  return out;
}

describe('whale serve with the openai SDK', () => {
  let srv;
  let client;
  before(async () => {
    srv = await startServer(['--parallel', '4', '--queue', '32']);
    client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 30000 });
  });
  after(async () => {
    const code = await srv.stop();
    assert.equal(code, 0, `clean shutdown on SIGTERM:\n${srv.log()}`);
  });

  test('health, models, metrics', async () => {
    const h = await fetch(`${srv.url}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
    const models = await client.models.list();
    assert.equal(models.data.length, 1);
    assert.equal(models.data[0].id, 'dsv3.gguf');
    const m = await fetch(`${srv.url}/metrics`);
    assert.equal(m.status, 200);
    const text = await m.text();
    for (const name of ['whale_http_requests_total', 'whale_slots_active', 'whale_queue_depth',
      'whale_prompt_tokens_total', 'whale_generated_tokens_total', 'whale_http_request_duration_seconds_bucket'])
      assert.match(text, new RegExp(`^${name}`, 'm'), name);
    assert.equal(h.headers.get('access-control-allow-origin'), null, 'no CORS unless asked');
  });

  test('chat, not streamed', async () => {
    const r = await client.chat.completions.create({ model: 'x', messages: hi, max_tokens: 12, seed: 3 });
    assert.equal(r.object, 'chat.completion');
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, 'dsv3.gguf');
    assert.equal(r.choices.length, 1);
    const c = r.choices[0];
    assert.equal(c.message.role, 'assistant');
    assert.equal(typeof c.message.content, 'string');
    if ('reasoning_content' in c.message) assert.equal(typeof c.message.reasoning_content, 'string');
    assert.ok(['stop', 'length'].includes(c.finish_reason));
    const u = r.usage;
    assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= 12);
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    assert.equal(typeof u.completion_tokens_details.reasoning_tokens, 'number');
  });

  test('chat, streamed, equals the whole answer for the same seed', async () => {
    const params = { messages: [{ role: 'system', content: 'be brief' }, ...hi], max_tokens: 24, seed: 7,
      temperature: 0.9, logit_bias: EOS_BAN };
    const whole = await client.chat.completions.create(params);
    const s = await collect(await client.chat.completions.create({ ...params, stream: true,
      stream_options: { include_usage: true } }));
    assert.equal(s.roles, 1, 'one role chunk');
    assert.equal(s.content[0], whole.choices[0].message.content);
    assert.equal(s.reasoning[0] ?? '', whole.choices[0].message.reasoning_content ?? '');
    assert.equal(s.finish[0], 'length');
    assert.equal(s.usage.completion_tokens, 24);
    assert.deepEqual(s.usage, whole.usage);
    // without include_usage there is no usage chunk
    const s2 = await collect(await client.chat.completions.create({ ...params, stream: true }));
    assert.equal(s2.usage, null);
    assert.equal(s2.content[0], s.content[0]);
  });

  test('multi-turn history with assistant reasoning_content and tool messages', async () => {
    const r = await client.chat.completions.create({
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: [{ type: 'text', text: 'part one ' }, { type: 'text', text: 'part two' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function',
          function: { name: 'f', arguments: '{"a":1}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: '42' },
        { role: 'assistant', content: 'ok', reasoning_content: 'dropped' },
        { role: 'user', content: 'again' },
      ],
      max_tokens: 4,
      stop: ['\n\n', 'zz'],
      top_p: 0.9, presence_penalty: 0.5, frequency_penalty: 0.5, think_budget: 2,
    });
    assert.equal(r.choices.length, 1);
  });

  test('completions, whole and streamed', async () => {
    const r = await client.completions.create({ model: 'x', prompt: 'Once upon', max_tokens: 10, seed: 5,
      logit_bias: EOS_BAN });
    assert.equal(r.object, 'text_completion');
    assert.equal(typeof r.choices[0].text, 'string');
    assert.equal(r.usage.completion_tokens, 10);
    const s = await collect(await client.completions.create({ prompt: 'Once upon', max_tokens: 10, seed: 5,
      logit_bias: EOS_BAN, stream: true }));
    assert.equal(s.content[0], r.choices[0].text);
    assert.equal(s.finish[0], 'length');
  });

  test('n > 1: seeds seed, seed+1, ...', async () => {
    const r = await client.chat.completions.create({ messages: hi, max_tokens: 16, seed: 40, n: 3,
      logit_bias: EOS_BAN });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(r.usage.completion_tokens, 48);
    const one = await client.chat.completions.create({ messages: hi, max_tokens: 16, seed: 41, logit_bias: EOS_BAN });
    assert.equal(r.choices[1].message.content, one.choices[0].message.content);
    const s = await collect(await client.chat.completions.create({ messages: hi, max_tokens: 16, seed: 40, n: 3,
      logit_bias: EOS_BAN, stream: true }));
    for (let i = 0; i < 3; i++) {
      assert.equal(s.content[i], r.choices[i].message.content, `choice ${i}`);
      assert.equal(s.finish[i], 'length');
    }
  });

  test('16 concurrent streams each match their solo run', async () => {
    const params = (i) => ({ messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 32,
      seed: 100 + i, temperature: 1, logit_bias: EOS_BAN, stream: true });
    const solo = [];
    for (let i = 0; i < 16; i++) solo.push((await collect(await client.chat.completions.create(params(i)))).content[0]);
    const t0 = Date.now();
    const together = await Promise.all(Array.from({ length: 16 }, async (_, i) =>
      collect(await client.chat.completions.create(params(i)))));
    for (let i = 0; i < 16; i++) {
      assert.equal(together[i].finish[0], 'length', `stream ${i} completed`);
      assert.equal(together[i].content[0], solo[i], `stream ${i}: same text as alone`);
    }
    assert.ok(Date.now() - t0 < 30000);
  });

  test('a client that disconnects mid-stream frees its slot within 1 s', async () => {
    let cancelled = false;
    for (let attempt = 0; attempt < 3 && !cancelled; attempt++) {
      const before0 = await metric(srv.url, 'whale_engine_requests_cancelled_total');
      const ac = new AbortController();
      const stream = await client.chat.completions.create({ messages: hi, logit_bias: EOS_BAN, stream: true,
        seed: attempt }, { signal: ac.signal });
      let aborted = false;
      try {
        for await (const ch of stream) {
          if (ch.choices[0]?.delta?.content) {
            ac.abort();
            aborted = true;
          }
        }
      } catch (e) {
        assert.ok(aborted, `unexpected stream error: ${e}`);
      }
      const t0 = Date.now();
      let active = await metric(srv.url, 'whale_slots_active');
      while (active !== 0 && Date.now() - t0 < 1000) {
        await sleep(20);
        active = await metric(srv.url, 'whale_slots_active');
      }
      assert.equal(active, 0, 'slot free within 1 s of the disconnect');
      await sleep(50);
      cancelled = (await metric(srv.url, 'whale_engine_requests_cancelled_total')) > before0;
    }
    assert.ok(cancelled, 'the generation was cancelled, not run to its end');
    // a non-streamed request whose client gives up is cancelled too
    const ac = new AbortController();
    const p = client.chat.completions.create({ messages: hi, logit_bias: EOS_BAN }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 5);
    await assert.rejects(p, OpenAI.APIUserAbortError);
    const t0 = Date.now();
    while ((await metric(srv.url, 'whale_slots_active')) !== 0 && Date.now() - t0 < 1000) await sleep(20);
    assert.equal(await metric(srv.url, 'whale_slots_active'), 0);
  });

  describe('bad input: the right status and error, never a crash', () => {
    const long = 'x'.repeat(400); // > 128 tokens of the fixture's byte vocabulary
    const cases = [
      ['missing messages', { model: 'x' }, 400, 'messages', OpenAI.BadRequestError],
      ['messages not an array', { messages: 'hi' }, 400, 'messages'],
      ['empty messages', { messages: [] }, 400, 'messages'],
      ['message not an object', { messages: [3] }, 400, 'messages[0]'],
      ['bad role', { messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role'],
      ['missing content', { messages: [{ role: 'user' }] }, 400, 'messages[0].content'],
      ['content of wrong type', { messages: [{ role: 'user', content: 5 }] }, 400, 'messages[0].content'],
      ['image part', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
        400, 'messages[0].content'],
      ['temperature a string', { messages: hi, temperature: 'hot' }, 400, 'temperature'],
      ['temperature out of range', { messages: hi, temperature: 7 }, 400, 'temperature'],
      ['top_p out of range', { messages: hi, top_p: 1.5 }, 400, 'top_p'],
      ['max_tokens zero', { messages: hi, max_tokens: 0 }, 400, 'max_tokens'],
      ['max_tokens a float', { messages: hi, max_tokens: 1.5 }, 400, 'max_tokens'],
      ['max_tokens beyond the context', { messages: hi, max_tokens: 100000 }, 400, 'max_tokens'],
      ['prompt longer than the context', { messages: [{ role: 'user', content: long }] }, 400, 'messages'],
      ['n too large', { messages: hi, n: 99 }, 400, 'n'],
      ['stop of wrong type', { messages: hi, stop: 5 }, 400, 'stop'],
      ['too many stops', { messages: hi, stop: ['a', 'b', 'c', 'd', 'e'] }, 400, 'stop'],
      ['logit_bias bad key', { messages: hi, logit_bias: { abc: 1 } }, 400, 'logit_bias'],
      ['logit_bias id outside the vocabulary', { messages: hi, logit_bias: { 999999: 1 } }, 400, 'logit_bias'],
      ['seed a string', { messages: hi, seed: 'x' }, 400, 'seed'],
      ['stream_options without stream', { messages: hi, stream_options: { include_usage: true } }, 400, 'stream_options'],
      ['presence_penalty out of range', { messages: hi, presence_penalty: 3 }, 400, 'presence_penalty'],
      ['think_budget of wrong type', { messages: hi, think_budget: 'lots' }, 400, 'think_budget'],
    ];
    for (const [name, body, status, param, cls] of cases) {
      test(name, async () => {
        const err = await client.chat.completions.create(body).then(() => null, (e) => e);
        assert.ok(err instanceof (cls ?? OpenAI.APIError), `${name}: got ${err}`);
        assert.equal(err.status, status);
        assert.equal(err.type, 'invalid_request_error');
        assert.equal(err.param, param);
        assert.ok(err.message.length > 10);
      });
    }
    test('completions: missing and wrong prompt, too long', async () => {
      for (const [body, param] of [[{}, 'prompt'], [{ prompt: 3 }, 'prompt'], [{ prompt: long }, 'prompt']]) {
        const err = await client.completions.create(body).then(() => null, (e) => e);
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.param, param);
      }
    });
    const raw = async (method, path, body, headers = { 'Content-Type': 'application/json' }) => {
      const r = await fetch(`${srv.url}${path}`, { method, body, headers });
      const text = await r.text();
      return { status: r.status, json: text ? JSON.parse(text) : null, headers: r.headers };
    };
    test('invalid JSON, trailing data, a non-object, an empty body', async () => {
      for (const body of ['{"messages": [', '{"messages": []} x', '[1,2]', '', 'null', '{"a":' + '['.repeat(200)]) {
        const r = await raw('POST', '/v1/chat/completions', body);
        assert.equal(r.status, 400, body);
        assert.equal(r.json.error.type, 'invalid_request_error');
        assert.equal(typeof r.json.error.message, 'string');
      }
    });
    test('a body over the limit is 413', async () => {
      const big = JSON.stringify({ messages: [{ role: 'user', content: 'y'.repeat(1100000) }] });
      const r = await raw('POST', '/v1/chat/completions', big);
      assert.equal(r.status, 413);
      assert.equal(r.json.error.code, 'request_too_large');
      const err = await client.chat.completions.create({ messages: [{ role: 'user', content: 'y'.repeat(1100000) }] })
        .then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 413);
    });
    test('unknown route 404, wrong method 405', async () => {
      let r = await raw('GET', '/v1/nothing');
      assert.equal(r.status, 404);
      assert.equal(r.json.error.type, 'not_found_error');
      r = await raw('GET', '/v1/chat/completions');
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'POST');
      r = await raw('DELETE', '/health');
      assert.equal(r.status, 405);
      const err = await client.get('/nothing-here').then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.NotFoundError);
    });
    test('a valid request after all the bad ones', async () => {
      const r = await client.chat.completions.create({ messages: hi, max_tokens: 5, logit_bias: EOS_BAN });
      assert.equal(r.usage.completion_tokens, 5);
      assert.equal((await fetch(`${srv.url}/health`)).status, 200);
    });
  });
});

describe('API key and CORS', () => {
  let srv;
  before(async () => {
    srv = await startServer(['--api-key', 'sekret', '--cors', 'http://example.test']);
  });
  after(async () => assert.equal(await srv.stop(), 0));

  test('a wrong or missing key is 401; health, metrics and the page stay open', async () => {
    for (const key of ['wrong', 'sekre', 'sekrett']) {
      const bad = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: key, maxRetries: 0 });
      const err = await bad.chat.completions.create({ messages: hi, max_tokens: 2 }).then(() => null, (e) => e);
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.status, 401);
    }
    const r = await fetch(`${srv.url}/v1/models`);
    assert.equal(r.status, 401);
    for (const p of ['/health', '/metrics', '/']) assert.equal((await fetch(`${srv.url}${p}`)).status, 200, p);
    const good = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
    const ok = await good.chat.completions.create({ messages: hi, max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  test('CORS headers and preflight when --cors is given', async () => {
    const r = await fetch(`${srv.url}/health`, { headers: { Origin: 'http://example.test' } });
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://example.test');
    const pre = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
  });
});

describe('more requests than slots and queue', () => {
  let srv;
  before(async () => {
    srv = await startServer(['--parallel', '1', '--queue', '1']);
  });
  after(async () => assert.equal(await srv.stop(), 0));

  test('429 as RateLimitError; the accepted ones complete; valid afterwards', async () => {
    const client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      client.chat.completions.create({ messages: hi, seed: i, logit_bias: EOS_BAN }).then((r) => r, (e) => e)));
    const limited = results.filter((r) => r instanceof OpenAI.RateLimitError);
    const done = results.filter((r) => r.choices);
    assert.ok(limited.length >= 1, 'some were refused');
    assert.ok(done.length >= 1, 'some were served');
    assert.equal(limited.length + done.length, 8);
    assert.equal(limited[0].status, 429);
    assert.equal(limited[0].type, 'rate_limit_error');
    const r = await client.chat.completions.create({ messages: hi, max_tokens: 3 });
    assert.equal(r.choices.length, 1);
  });
});
