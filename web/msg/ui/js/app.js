/*
 * app.js -- the entry point of /msg/ui/threads/.  Owns starting up (who
 * is logged in: GET /api/auth/me/, else the sign-up / log-in forms), the
 * page layout (sidebar and main column; on narrow screens one of them at
 * a time), the lobby, logging out, and the hash router:
 *
 *   #/                  the room list (and a welcome in the main column)
 *   #/room/<id>         a chat          (chat.js)
 *   #/support[/<id>]    the support desk (support.js)
 *   #/tasks[/<id>]      task comments   (tasks.js)
 */
import { api } from './api.js';
import { Users } from './users.js';
import { Rooms } from './rooms.js';
import { Outbox } from './outbox.js';
import { startLobby } from './lobby.js';
import { buildSidebar } from './sidebar.js';
import { showAuth } from './auth.js';
import { mountChat } from './chat.js';
import { mountSupport } from './support.js';
import { mountTasks } from './tasks.js';
import { setTitleBase } from './notify.js';
import { el } from './ui.js';

const root = document.getElementById('app');
const BASE_TITLE = 'chanhost chat';

/* "#/room/12" -> {section: 'chats', mount, param: 12} */
function parseRoute(hash) {
  const [, section, param] = /^#\/([a-z]+)?(?:\/(\d+))?\/?$/.exec(hash) ?? [];
  const id = param ? Number(param) : null;
  if (section === 'room' && id) return { section: 'chats', roomId: id, mount: mountChat, param: id };
  if (section === 'support') return { section: 'support', mount: mountSupport, param: id };
  if (section === 'tasks') return { section: 'tasks', mount: mountTasks, param: id };
  return { section: 'chats', mount: null, param: null };
}

function welcome(main, ctx) {
  setTitleBase(BASE_TITLE);
  main.replaceChildren(el('div', { class: 'welcome' },
    el('h1', { text: `Hello, ${ctx.me.username}` }),
    el('p', { text: 'Pick a chat on the left, or start one with “New chat”.' }),
    el('p', { class: 'hint', text: 'Someone to talk to? Open another browser window (or a private one), sign up as a second user and start a chat with the first.' })));
  return { unmount() {} };
}

async function startApp(me) {
  const users = await new Users().load();
  const ctx = { me, users, rooms: new Rooms(me, users) };
  await ctx.rooms.refresh();

  const main = el('main', { id: 'main', class: 'main', tabindex: '-1' });
  const lobby = startLobby(ctx, (code) => { if (code === 4001) location.reload(); });
  const logout = async () => {
    lobby.stop();
    await api.post('/api/auth/logout/').catch(() => {});
    Outbox.clearAll();
    location.hash = '';
    location.reload();
  };
  const sidebar = buildSidebar(ctx, lobby, logout);
  const shell = el('div', { class: 'shell' }, sidebar.el, main);
  const skip = el('a', { class: 'skip-link', href: '#main', text: 'Skip to the conversation' });
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  root.replaceChildren(skip, shell);

  let view = null;
  const route = () => {
    const r = parseRoute(location.hash);
    view?.unmount();
    shell.dataset.pane = r.mount ? 'main' : 'list';
    sidebar.setActive(r.section, r.roomId ?? null);
    view = r.mount ? r.mount(main, ctx, r.param) : welcome(main, ctx);
    if (r.mount && !main.contains(document.activeElement)) main.querySelector('.view-title')?.focus();
  };
  addEventListener('hashchange', route);
  route();
}

async function boot() {
  root.setAttribute('aria-busy', 'true');
  try {
    const { user } = await api.get('/api/auth/me/');
    await startApp(user);
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      showAuth(root, () => boot());
    } else {
      root.replaceChildren(el('main', { id: 'main', class: 'auth' },
        el('h1', { text: BASE_TITLE }),
        el('p', { role: 'alert', text: err.message }),
        el('button', { type: 'button', class: 'primary', text: 'Try again', onclick: boot })));
    }
  } finally {
    root.removeAttribute('aria-busy');
  }
}

boot();
