// web.test.mjs — the web chat page in headless Chromium (Debian's chromium driven by
// playwright-core): it loads from the binary, a message streams an answer from the
// real server, Stop aborts a generation mid-stream, a reply with reasoning_content
// shows the thinking in a folded block, conversations survive a reload, and the page
// fits a phone. Screenshots go to build/test-artifacts/webchat*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { root, startServer } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ART = path.join(root, 'build', 'test-artifacts');
const have = fs.existsSync(CHROMIUM);

describe('web chat page', { skip: have ? false : `no ${CHROMIUM}` }, () => {
  let srv, browser, page;
  before(async () => {
    fs.mkdirSync(ART, { recursive: true });
    srv = await startServer(['--parallel', '2']);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30000 });
    page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    page.setDefaultTimeout(30000); // generous: Chromium is slow on a loaded 2-CPU machine
  });
  after(async () => {
    await browser?.close();
    if (srv) assert.equal(await srv.stop(), 0);
  });

  test('loads from the binary, no external requests', async () => {
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(srv.url)) external.push(r.url()); });
    await page.goto(srv.url + '/');
    await page.waitForFunction(() => document.getElementById('model').textContent === 'dsv3.gguf');
    assert.deepEqual(external, []);
    for (const p of ['/app.js', '/style.css']) assert.equal((await fetch(srv.url + p)).status, 200);
  });

  test('a message streams an answer', async () => {
    await page.click('#settings-btn');
    await page.fill('#max-tokens', '32');
    await page.click('#settings-btn');
    await page.fill('#input', 'Hello whale, how are you?');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.querySelector('.msg.assistant .answer')?.textContent.length > 0);
    await page.waitForSelector('#send:not([hidden])');
    const stats = await page.textContent('.msg.assistant .stats');
    assert.match(stats, /tokens/);
    assert.equal(await page.locator('.msg.user').count(), 1);
  });

  test('Stop aborts a generation mid-stream', async () => {
    // slow the network so the reply is still streaming when Stop is pressed
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await page.click('#new-chat'); // the fixture's context is 128 tokens: start afresh
    await page.click('#settings-btn');
    await page.fill('#max-tokens', ''); // the rest of the context: a long reply
    await page.click('#settings-btn');
    await cdp.send('Network.emulateNetworkConditions',
      { offline: false, latency: 0, downloadThroughput: 400, uploadThroughput: -1 });
    // the fixture is random: ban its EOS (id 1) so the reply cannot end before Stop
    await page.route('**/v1/chat/completions', (route) => {
      const body = JSON.parse(route.request().postData() || '{}');
      body.logit_bias = { 1: -100 };
      return route.continue({ postData: JSON.stringify(body) });
    });
    try {
      await page.fill('#input', 'Tell me a story');
      await page.click('#send');
      await page.waitForSelector('#stop:not([hidden])');
      await page.waitForFunction(() => document.querySelector('.msg.assistant .answer')?.textContent.length > 0,
        null, { timeout: 30000 });
      await page.click('#stop');
      await page.waitForSelector('#send:not([hidden])', { timeout: 5000 });
      assert.match(await page.textContent('.msg.assistant .stats'), /stopped/);
    } finally {
      await page.unroute('**/v1/chat/completions');
      await cdp.send('Network.emulateNetworkConditions',
        { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    }
  });

  test('reasoning_content shows as a folded thinking block', async () => {
    const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk',
      created: 0, model: 'dsv3.gguf', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const thought = 'The user asks why the sky is blue. Rayleigh scattering goes as 1/\u03bb\u2074, so blue light scatters most.';
    const answer = 'Because air molecules scatter short (blue) wavelengths of sunlight much more than long (red) ones.';
    await page.route('**/v1/chat/completions', (route) => route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: chunk({ role: 'assistant', content: '' }) +
        thought.match(/.{1,12}/gs).map((t) => chunk({ reasoning_content: t })).join('') +
        answer.match(/.{1,12}/gs).map((t) => chunk({ content: t })).join('') + chunk({}, 'stop') +
        `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 60,
          total_tokens: 69, completion_tokens_details: { reasoning_tokens: 31 } } })}\n\ndata: [DONE]\n\n`,
    }));
    await page.click('#new-chat');
    await page.fill('#input', 'Why is the sky blue?');
    await page.press('#input', 'Enter');
    await page.waitForSelector('#send:not([hidden])');
    await page.waitForFunction((a) => document.querySelector('.msg.assistant .answer')?.textContent === a, answer);
    const think = page.locator('.msg.assistant details.think');
    assert.equal(await think.isVisible(), true);
    assert.equal(await think.locator('.think-text').textContent(), thought);
    assert.equal(await think.evaluate((d) => d.open), false, 'folded once the answer starts');
    assert.match(await think.locator('summary').textContent(), /Thought for/);
    assert.match(await page.textContent('.msg.assistant .stats'), /31 thinking/);
    await think.locator('summary').click(); // unfold it for the screenshot
    await page.unroute('**/v1/chat/completions');
    await page.screenshot({ path: path.join(ART, 'webchat.png') });
  });

  test('conversations are kept in the browser; the page fits a phone', async () => {
    await page.reload();
    assert.equal(await page.locator('#chats li').count(), 3);
    await page.locator('#chats li button.open').nth(2).click(); // the oldest: the first chat
    assert.equal(await page.locator('.msg.user').count(), 1);
    assert.match(await page.textContent('.msg.user'), /Hello whale/);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0,
      null, { timeout: 2000 }); // the sidebar folds away on a phone
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(overflow, false, 'no horizontal scrolling');
    await page.click('#menu');
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
    await page.mouse.click(370, 400); // a tap beside the open sidebar closes it
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0);
    await page.screenshot({ path: path.join(ART, 'webchat-phone.png') });
  });
});
