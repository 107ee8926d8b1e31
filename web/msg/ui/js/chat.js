/*
 * chat.js -- the chat view of one room (#/room/<id>): its header, the
 * conversation on /ws/threads/<id>/ (threads) or /ws/chat-room/<id>/
 * (private and group rooms) with attachments, and "Load older messages" through GET
 * /api/rooms/<id>/messages/?before=, and who is online (presence.js).
 */
import { api } from './api.js';
import { chatProtocol, fromStore } from './protocols.js';
import { openConversation } from './conversation.js';
import { PresenceLine } from './presence.js';
import { setTitleBase } from './notify.js';
import { el, viewHeader } from './ui.js';

const PAGE = 50;

/* The button, shown once the first history filled a page. */
function olderButton(conv, roomId) {
  const button = el('button', { type: 'button', class: 'link older', text: 'Load older messages', hidden: true });
  const end = el('p', { class: 'hint', text: 'This is the beginning of the conversation.', hidden: true });
  button.addEventListener('click', async () => {
    const before = conv.timeline.firstId();
    button.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (before !== null) q.set('before', String(before));
      const { messages } = await api.get(`/api/rooms/${roomId}/messages/?${q}`);
      conv.timeline.keepPosition();
      for (const m of messages) conv.timeline.upsert(fromStore(m));
      if (messages.length < PAGE) {
        button.hidden = true;
        end.hidden = false;
      }
    } catch (err) {
      end.textContent = err.message;
      end.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  conv.top.replaceChildren(button, end);
  return (messages, isFirst) => {
    if (isFirst && messages.length >= PAGE) button.hidden = false;
  };
}

export function mountChat(main, ctx, roomId) {
  const head = viewHeader('Chat');
  const body = el('div', { class: 'view-body' });
  let conv = null;
  let gone = false;
  main.replaceChildren(head.header, body);

  (async () => {
    if (!ctx.rooms.byId(roomId)) await ctx.rooms.refresh().catch(() => {});
    const room = ctx.rooms.byId(roomId);
    if (gone) return;
    if (!room) {
      head.title.textContent = 'Chat not found';
      body.replaceChildren(el('p', { class: 'empty', text: `Chat ${roomId} is not one of yours.` }));
      return;
    }
    const title = ctx.rooms.label(room);
    head.title.textContent = title;
    setTitleBase(`${title} · chanhost chat`);
    let older = null;
    const presence = new PresenceLine(room.id);
    main.replaceChildren(head.header, presence.element, body);
    conv = openConversation(body, {
      presence,
      onHistory: (messages, isFirst) => older?.(messages, isFirst),
      protocol: chatProtocol,
      path: room.kind === 'thread' ? `/ws/threads/${room.id}/` : `/ws/chat-room/${room.id}/`,
      roomKey: `room-${room.id}`,
      me: ctx.me,
      statusSlot: head.statusSlot,
      title,
      uploadRoomId: room.id,
    });
    older = olderButton(conv, room.id);
    conv.input.focus();
  })();

  return {
    unmount() {
      gone = true;
      conv?.close();
    },
  };
}
