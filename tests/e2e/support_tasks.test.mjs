/*
 * support_tasks.test.mjs -- the two other views.  The support desk
 * (seed 003): a publisher writes in its own room, an admin picks the
 * publisher from the list and answers, typing shows both ways, a plain
 * user is told the desk is not for them.  Task comments (seed 001): two
 * members of a task comment both ways and edit their own comment; a
 * non-member and a task without members get a clear message.  Users
 * with roles and task members are made with the service token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Host } from './lib/host.mjs';
import { launch, screenshot } from './lib/browser.mjs';
import { ChatUI } from './lib/chatui.mjs';

const STEP = { timeout: 90000 };

describe('support desk and task comments', () => {
  let host;
  let one;
  let two;
  let P;
  let D;

  before(async () => {
    host = await Host.start();
    await host.createUser('pub1', 'publisher');
    await host.createUser('admin1', 'admin');
    const alice = await host.createUser('alice');
    const bob = await host.createUser('bob');
    for (const user of [alice, bob]) await host.api('POST', '/api/tasks/42/members/', { user_id: user.id });
    await host.api('POST', '/api/tasks/43/members/', { user_id: bob.id });
    one = await launch('one');
    two = await launch('two');
    P = new ChatUI(one, host);
    D = new ChatUI(two, host);
  });

  after(async () => {
    await one?.close();
    await two?.close();
    await host?.stop();
    assert.deepEqual([...(one?.errors ?? []), ...(two?.errors ?? [])], [], 'uncaught errors in the pages');
  });

  test('a publisher asks the support desk', STEP, async () => {
    await P.logIn('pub1');
    await P.page.getByRole('link', { name: 'Support desk' }).click();
    await P.title('Support desk');
    await P.waitStatus('connected');
    await P.send('My ad is not showing');
    await P.tickState('My ad is not showing', 'stored');
  });

  test('an admin picks the publisher and answers; typing shows both ways', STEP, async () => {
    await D.logIn('admin1');
    await D.page.getByRole('link', { name: 'Support desk' }).click();
    await D.page.getByRole('navigation', { name: 'Publishers' }).getByRole('link', { name: 'pub1' }).click();
    await D.title('Support: pub1');
    await D.waitStatus('connected');
    await D.once('My ad is not showing');
    assert.equal(await D.msg('My ad is not showing').locator('.role').textContent(), 'publisher');

    await D.composer.pressSequentially('Look', { delay: 20 });
    await P.typingLine().filter({ hasText: 'admin1 is typing…' }).waitFor();
    await D.composer.pressSequentially('ing into it');
    await D.composer.press('Enter');
    await P.once('Looking into it');
    assert.equal(await P.msg('Looking into it').locator('.role').textContent(), 'admin');

    await P.composer.pressSequentially('Thanks', { delay: 20 });
    await D.typingLine().filter({ hasText: 'pub1 is typing…' }).waitFor();
    await P.composer.press('Enter');
    await D.once('Thanks');
    await screenshot(P.page, 'support-01-publisher');
    await screenshot(D.page, 'support-02-admin');
  });

  test('members comment on a task both ways and edit their own comment', STEP, async () => {
    await P.logOut();
    await D.logOut();
    await P.logIn('alice');
    await D.logIn('bob');

    await P.page.getByRole('link', { name: 'Support desk' }).click();
    await P.page.getByText('Your account is neither').waitFor();

    await P.page.getByRole('link', { name: 'Task comments' }).click();
    await P.page.getByLabel('Task id').fill('42');
    await P.page.getByRole('button', { name: 'Open' }).click();
    await P.title('Task 42 comments');
    await P.waitStatus('connected');
    await P.send('Started on this');

    await D.open('#/tasks/42');
    await D.title('Task 42 comments');
    await D.once('Started on this');
    await D.send('Great, ping me for review');
    await P.once('Great, ping me for review');

    await P.msg('Started on this').getByRole('button', { name: 'Edit message: Started on this' }).click();
    await P.page.getByRole('textbox', { name: 'Edit message' }).fill('Started on this, done by Friday');
    await P.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
    await D.once('Started on this, done by Friday');
    assert.equal(await D.msg('Started on this, done by Friday').locator('.edited').textContent(), '(edited)');
    await screenshot(D.page, 'tasks-01-comments');
  });

  test('a non-member and a task without members are told why', STEP, async () => {
    await P.page.getByLabel('Task id').fill('43');
    await P.page.getByRole('button', { name: 'Open' }).click();
    await P.title('Task 43 comments');
    await P.waitStatus('disconnected');
    await P.banner().filter({ hasText: 'You are not a member of task 43.' }).waitFor();
    assert.equal(await P.banner().getByRole('button').isVisible(), false, 'nothing to retry');

    await P.page.getByLabel('Task id').fill('99');
    await P.page.getByRole('button', { name: 'Open' }).click();
    await P.banner().filter({ hasText: 'Task 99 has no comments yet: it has no members.' }).waitFor();
    await screenshot(P.page, 'tasks-02-no-members');
  });
});
