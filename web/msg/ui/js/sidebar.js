/*
 * sidebar.js -- the left column: who is logged in (and log out), the
 * lobby connection, the offer to turn on browser notifications, the
 * sections (chats, support desk, task comments), "New chat" / "New
 * group", and the room list with live unread badges.
 */
import { el, routes } from './ui.js';
import { askPermission, permission } from './notify.js';
import { newChatDialog, newGroupDialog } from './dialogs.js';

function roomItem(ctx, room, activeId) {
  const n = ctx.rooms.unread(room.id);
  const last = room.last_message;
  const preview = last
    ? `${last.user_id === ctx.me.id ? 'You' : ctx.users.name(last.user_id)}: ${last.is_deleted ? 'deleted message' : last.message}`
    : 'No messages yet';
  return el('li', {},
    el('a', { href: routes.room(room.id), class: 'room', 'aria-current': room.id === activeId ? 'page' : null,
      dataset: { roomId: room.id } },
    el('span', { class: 'room-name', text: ctx.rooms.label(room) }),
    el('span', { class: 'badge', hidden: n === 0, 'aria-hidden': 'true', text: String(n), dataset: { count: n } }),
    n > 0 && el('span', { class: 'visually-hidden', text: `, ${n} unread` }),
    el('span', { class: 'room-preview', text: preview })));
}

function notificationOffer() {
  const button = el('button', { type: 'button', class: 'link', text: 'Turn on browser notifications' });
  const line = el('p', { class: 'notify-offer', hidden: permission() !== 'default' }, button);
  button.addEventListener('click', async () => {
    await askPermission();
    line.hidden = permission() !== 'default';
  });
  return line;
}

/* ctx: {me, rooms, users}; lobby: {indicator, banner}; onLogout().
 * Returns {el, setActive(route)}. */
export function buildSidebar(ctx, lobby, onLogout) {
  const list = el('ul', { class: 'rooms', 'aria-labelledby': 'rooms-h' });
  const nav = el('nav', { class: 'sections', 'aria-label': 'Sections' },
    el('a', { href: routes.home(), dataset: { section: 'chats' }, text: 'Chats' }),
    el('a', { href: routes.support(), dataset: { section: 'support' }, text: 'Support desk' }),
    el('a', { href: routes.tasks(), dataset: { section: 'tasks' }, text: 'Task comments' }));
  const aside = el('aside', { class: 'sidebar', 'aria-label': 'Conversations' },
    el('header', { class: 'me' },
      el('span', { class: 'me-name' }, el('strong', { text: ctx.me.username }),
        ctx.me.role !== 'user' && el('span', { class: 'role', text: ctx.me.role })),
      el('button', { type: 'button', class: 'link', text: 'Log out', onclick: onLogout })),
    el('div', { class: 'lobby-line' }, el('span', { class: 'hint', text: 'Live updates' }), lobby.indicator),
    lobby.banner,
    notificationOffer(),
    nav,
    el('div', { class: 'room-actions' },
      el('button', { type: 'button', class: 'secondary', text: 'New chat', onclick: () => newChatDialog(ctx) }),
      el('button', { type: 'button', class: 'secondary', text: 'New group', onclick: () => newGroupDialog(ctx) })),
    el('h2', { id: 'rooms-h', class: 'rooms-heading', text: 'Chats' }),
    list);
  let active = { section: 'chats', roomId: null };

  const render = () => {
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.roomId : null;
    list.replaceChildren(...ctx.rooms.list.map((r) => roomItem(ctx, r, active.roomId)));
    if (focused) list.querySelector(`[data-room-id="${focused}"]`)?.focus();
    if (!ctx.rooms.list.length) {
      list.append(el('li', { class: 'empty', text: 'No chats yet. Start one with “New chat”.' }));
    }
    for (const a of nav.querySelectorAll('a')) {
      if (a.dataset.section === active.section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  };
  ctx.rooms.addEventListener('change', render);
  render();
  return {
    el: aside,
    setActive(section, roomId = null) {
      active = { section, roomId };
      render();
    },
  };
}
