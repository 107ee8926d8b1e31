/*
 * support.js -- the support desk (#/support, seed 003's publisher-admin
 * chat on /ws/chat/support/publisher_<id>/, plugins/support): a
 * publisher talks in its own room; an admin picks a publisher from the
 * list (GET /api/users/, role publisher) and joins that room
 * (#/support/<publisher id>).  Anyone else is told what the desk is for.
 */
import { supportProtocol } from './protocols.js';
import { openConversation } from './conversation.js';
import { setTitleBase } from './notify.js';
import { el, viewHeader, routes } from './ui.js';

function publisherList(ctx) {
  const publishers = ctx.users.publishers();
  if (!publishers.length) return el('p', { class: 'empty', text: 'No publisher has an account yet.' });
  return el('nav', { 'aria-label': 'Publishers' },
    el('ul', { class: 'plain-list' }, publishers.map((p) =>
      el('li', {}, el('a', { href: routes.support(p.id), text: p.username })))));
}

export function mountSupport(main, ctx, publisherId) {
  const { me } = ctx;
  const isAdmin = me.role === 'admin';
  const owner = me.role === 'publisher' ? me.id : publisherId;
  const back = isAdmin && owner ? routes.support() : routes.home();
  const title = owner && isAdmin ? `Support: ${ctx.users.name(owner)}` : 'Support desk';
  const head = viewHeader(title, back);
  const body = el('div', { class: 'view-body' });
  let conv = null;
  main.replaceChildren(head.header, body);
  setTitleBase(`${title} · chanhost chat`);

  if (!owner && isAdmin) {
    body.replaceChildren(el('div', { class: 'pad' },
      el('p', { text: 'Pick a publisher to answer:' }), publisherList(ctx)));
  } else if (!owner) {
    body.replaceChildren(el('p', { class: 'empty',
      text: 'The support desk connects publishers with the admins. Your account is neither.' }));
  } else {
    conv = openConversation(body, {
      protocol: supportProtocol,
      path: `/ws/chat/support/publisher_${owner}/`,
      roomKey: `support-${owner}`,
      me,
      statusSlot: head.statusSlot,
      title,
      notifyLocally: true,
      finalMessages: { 4003: 'Only this publisher and the admins may use this support room.' },
    });
    conv.input.focus();
  }
  return { unmount() { conv?.close(); } };
}
