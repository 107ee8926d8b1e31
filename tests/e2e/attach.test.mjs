/*
 * attach.test.mjs -- attachments in the chat UI: alice attaches a PNG in
 * her window, bob sees it inline in his (the image really loaded through
 * GET /api/attachments/<id>/ with his session cookie, at its own size),
 * and after a reload it is still there from the history.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot, until } from './lib/browser.mjs';
import { startPair, stopPair } from './lib/pair.mjs';

const STEP = { timeout: 90000 };
/* A 4 x 3 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGM4IScHRww4OQD1xwwxB+utmQAAAABJRU5ErkJggg==', 'base64');

/* Wait until the message with text shows an image of the given size. */
async function imageShown(ui, text, width, height) {
  await until(ui.page, `"${text}" to show a ${width}x${height} image`, ([t, w, h]) => {
    const m = [...document.querySelectorAll('.log .msg')].find((n) => n.querySelector('.text')?.textContent === t);
    const img = m?.querySelector('.attachments img');
    return Boolean(img?.complete && img.naturalWidth === w && img.naturalHeight === h);
  }, [text, width, height]);
}

describe('an image attached in one window shows in the other', () => {
  const p = {};
  let A;
  let B;

  before(async () => {
    await startPair(p);
    ({ A, B } = p);
  });

  after(() => stopPair(p));

  test('alice and bob open a chat', STEP, async () => {
    await A.signUp('alice');
    await B.signUp('bob');
    await A.newChat('bob');
    await A.waitStatus('connected');
    await A.send('a picture follows');
    await B.room('alice').waitFor();
    await B.openRoom('alice');
    await B.once('a picture follows');
  });

  test('alice attaches an image; bob sees it inline', STEP, async () => {
    await A.composer.fill('our red square');
    await A.page.locator('.composer input[type=file]').setInputFiles(
      { name: 'red.png', mimeType: 'image/png', buffer: PNG });
    await A.once('our red square');
    await B.once('our red square');
    await imageShown(B, 'our red square', 4, 3);
    await imageShown(A, 'our red square', 4, 3);
    const img = B.msg('our red square').locator('.attachments img');
    assert.equal(await img.getAttribute('alt'), 'red.png');
    await screenshot(B.page, 'attach-01-bob-sees-the-image');
  });

  test('the image is in the history after a reload', STEP, async () => {
    await B.page.reload();
    await B.once('our red square');
    await imageShown(B, 'our red square', 4, 3);
  });

  test('a file of a refused type is not sent, and says why', STEP, async () => {
    await A.page.locator('.composer input[type=file]').setInputFiles(
      { name: 'page.html', mimeType: 'text/html', buffer: Buffer.from('<p>hi</p>') });
    await A.page.locator('.notice').filter({ hasText: 'Could not attach page.html' }).waitFor();
    assert.equal(await A.count('page.html'), 0);
  });
});
