/*
 * resume.test.mjs -- loss-free recovery in the web UI (docs/api.md,
 * "Resuming"): alice's window is offline (the host died, and she comes
 * back later than bob), bob edits and deletes his messages meanwhile;
 * when alice's window reconnects it asks for ?since_pos=&epoch= and shows
 * the edit and the delete without a page reload.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot } from './lib/browser.mjs';
import { startPair, stopPair } from './lib/pair.mjs';

const STEP = { timeout: 120000 };
const RECOVERY_MS = 30000;

describe('changes made while a window was offline', () => {
  const p = {};
  let host;
  let A;
  let B;
  let aliceSockets;

  /* alice's page waits ten minutes before retrying: she comes back when
   * the test says (Retry now); bob's page retries at once. */
  before(async () => {
    await startPair(p, { thread: true });
    ({ host, A, B, aliceSockets } = p);
  });

  after(() => stopPair(p));

  test('both see bob’s messages', STEP, async () => {
    await A.logIn('alice');
    await B.logIn('bob');
    await A.openRoom('bob');
    await B.openRoom('alice');
    await B.send('see you at 5');
    await B.send('bring the keys');
    await A.once('see you at 5');
    await A.once('bring the keys');
  });

  test('while alice is offline bob edits one and deletes the other', STEP, async () => {
    await host.kill();
    await A.waitStatus('reconnecting');
    await host.restart();
    await B.waitStatus('connected', RECOVERY_MS);
    await B.msg('see you at 5').getByRole('button', { name: 'Edit message: see you at 5' }).click();
    await B.page.getByRole('textbox', { name: 'Edit message' }).fill('see you at 6');
    await B.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
    await B.once('see you at 6');
    await B.msg('bring the keys').getByRole('button', { name: /^Delete message/ }).click();
    await B.page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await B.msg('This message was deleted.').waitFor();
    assert.equal(await A.count('see you at 6'), 0, 'alice is still offline');
  });

  test('alice reconnects: the edit and the delete show without a reload', STEP, async () => {
    const before = aliceSockets.length;
    await A.banner().getByRole('button', { name: 'Retry now' }).click();
    await A.waitStatus('connected');
    await A.once('see you at 6');
    await A.msg('This message was deleted.').waitFor();
    assert.equal(await A.count('see you at 5'), 0);
    assert.equal(await A.count('bring the keys'), 0);
    const resumed = aliceSockets.slice(before);
    assert.ok(resumed.some((u) => /[?&]since_pos=\d+&epoch=[0-9a-f]+/.test(u)),
      `the reconnect asked for ?since_pos=: ${resumed.join(' ')}`);
    await screenshot(A.page, 'resume-01-edit-and-delete-after-reconnect');
  });
});
