/*
 * dialogs.js -- the two ways to start talking: "New chat" (pick a user;
 * POST /api/threads/ finds or creates our one thread, seed 000's rule of
 * never a second thread) and "New group" (a name and members; POST
 * /api/rooms/).  Each is a modal <dialog> that opens the room on success.
 */
import { api } from './api.js';
import { el, formError, onSubmit, go, routes } from './ui.js';

/* Show a modal dialog with a heading, the form and its buttons. */
function modal(title, submitLabel, form) {
  const headingId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = el('dialog', { class: 'dialog', 'aria-labelledby': headingId },
    el('h2', { id: headingId, text: title }), form);
  form.append(el('div', { class: 'dialog-actions' },
    el('button', { type: 'button', class: 'secondary', text: 'Cancel', onclick: () => dialog.close() }),
    el('button', { type: 'submit', class: 'primary', text: submitLabel })));
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

async function openRoom(ctx, room, dialog) {
  await ctx.rooms.refresh();
  dialog.close();
  go(routes.room(room.id));
}

/* Radio buttons (one) or checkboxes (several) for the other users. */
function userChoices(ctx, type, name) {
  const others = ctx.users.others(ctx.me.id);
  if (!others.length) return el('p', { class: 'empty', text: 'Nobody else has signed up yet.' });
  return el('ul', { class: 'choices' }, others.map((u) =>
    el('li', {}, el('label', {},
      el('input', { type, name, value: String(u.id), required: type === 'radio' }),
      ` ${u.username}`, u.role !== 'user' && el('span', { class: 'role', text: u.role })))));
}

export async function newChatDialog(ctx) {
  await ctx.users.load().catch(() => {});
  const form = el('form', { class: 'stack' },
    el('fieldset', {}, el('legend', { text: 'Chat with' }), userChoices(ctx, 'radio', 'user')));
  const dialog = modal('New chat', 'Start chat', form);
  onSubmit(form, async (data) => {
    if (!data.get('user')) return formError(form, 'Pick someone to chat with.');
    const { room } = await api.post('/api/threads/', { user_id: Number(data.get('user')) });
    await openRoom(ctx, room, dialog);
  });
}

export async function newGroupDialog(ctx) {
  await ctx.users.load().catch(() => {});
  const nameId = `group-name-${Date.now()}`;
  const form = el('form', { class: 'stack' },
    el('label', { for: nameId, text: 'Group name' }),
    el('input', { id: nameId, name: 'name', required: true, pattern: '[A-Za-z0-9_\\-]{1,100}', maxlength: '100',
      autocomplete: 'off', 'aria-describedby': `${nameId}-hint` }),
    el('p', { id: `${nameId}-hint`, class: 'hint', text: 'Letters, digits, - and _ (it becomes the room’s address).' }),
    el('fieldset', {}, el('legend', { text: 'Members' }), userChoices(ctx, 'checkbox', 'member')));
  const dialog = modal('New group', 'Create group', form);
  onSubmit(form, async (data) => {
    const participants = data.getAll('member').map(Number);
    try {
      const { room } = await api.post('/api/rooms/', { name: data.get('name'), type: 'group', participants });
      await openRoom(ctx, room, dialog);
    } catch (err) {
      if (err.code === 'exists') throw new Error('A group with that name exists already; pick another name.');
      throw err;
    }
  });
}
