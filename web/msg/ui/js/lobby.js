/*
 * lobby.js -- the user's lobby socket (/ws/lobby/, plugins/chatroom):
 * unread counts and new-message notifications for every room, live.
 * Owns feeding the counts to Rooms (the first "unread" frame of each
 * connection is the full set, later ones one room each), refreshing the
 * room list after a notification (a new room, or a busy one moving to
 * the top) and after a reconnect, and the browser notification for a
 * message that arrives while the user is not looking.
 */
import { wsUrl } from './api.js';
import { ReconnectingSocket } from './socket.js';
import { statusView } from './status.js';
import { notify } from './notify.js';
import { go, routes } from './ui.js';

const REFRESH_DELAY_MS = 300;

/* ctx: {rooms}; onFinal(code): the lobby was refused (4001: logged out).
 * Returns {indicator, banner, stop}. */
export function startLobby(ctx, onFinal) {
  const socket = new ReconnectingSocket(() => wsUrl('/ws/lobby/'));
  const status = statusView(socket, 'Lobby');
  let fresh = true;
  let opened = 0;
  let refreshTimer = 0;

  const refreshSoon = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => ctx.rooms.refresh().catch(() => {}), REFRESH_DELAY_MS);
  };

  const handlers = {
    unread(f) {
      ctx.rooms.setUnread(f.counts ?? {}, fresh);
      fresh = false;
    },
    notification(f) {
      if (typeof f.unread === 'number') ctx.rooms.setUnread({ [f.room_id]: f.unread });
      refreshSoon();
      const room = ctx.rooms.byId(f.room_id);
      const where = f.room_type === 'group' ? ` in # ${f.room_name ?? room?.name ?? ''}` : '';
      notify(`New message from ${f.sender}${where}`, {
        body: f.unread > 1 ? `${f.unread} unread messages` : 'Open the chat to read it.',
        tag: `room-${f.room_id}`,
        onClick: () => go(routes.room(f.room_id)),
      });
    },
  };

  /* A reconnect may have missed new rooms: list them again. */
  socket.addEventListener('open', () => {
    fresh = true;
    if (++opened > 1) refreshSoon();
  });
  socket.addEventListener('frame', (e) => handlers[e.detail.type]?.(e.detail));
  socket.addEventListener('final', (e) => onFinal(e.detail.code));
  socket.start();
  return {
    indicator: status.indicator,
    banner: status.banner,
    stop() {
      clearTimeout(refreshTimer);
      status.destroy();
      socket.stop();
    },
  };
}
