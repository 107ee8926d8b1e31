/*
 * conversation.js -- one open conversation: the reconnecting socket, the
 * message list, the composer, and the rules that tie them together.
 * Owns:
 *
 *   - sending: every message goes through the Outbox with a fresh
 *     client_msg_id and shows as pending at once; it is written when the
 *     connection is live (its history arrived), resent every resendMs
 *     until the server acks it (the store deduplicates by client_msg_id),
 *     and dropped from the queue on the ack, on its own broadcast, or on
 *     a permanent refusal (an error frame naming it);
 *   - reconnecting with ?since=<last id seen>, so the history frame holds
 *     exactly what was missed; where the server keeps the room's stream
 *     (the history frame's "pos" and "epoch", each change's "pos"), also
 *     with &since_pos=<last position seen>&epoch=<epoch>, so the changes
 *     missed (edits, deletes, receipts) come back as their live frames,
 *     then {"type":"resumed"} (docs/api.md, "Resuming"); a "reload"
 *     answer is followed by the history;
 *   - read receipts (chat rooms): bulk_read when the history arrives or
 *     the user comes back to the tab, read_receipt for a message that
 *     arrives while they look;
 *   - editing and deleting the user's own messages;
 *   - attaching a file (opt.uploadRoomId): uploaded first, then sent as a
 *     message naming it (the text typed, or the file's name);
 *   - for conversations the lobby does not cover (support, tasks): the
 *     unread count in the tab title and browser notifications.
 */
import { settings } from './config.js';
import { uploadAttachment, wsUrl } from './api.js';
import { ReconnectingSocket } from './socket.js';
import { Outbox } from './outbox.js';
import { Timeline } from './timeline.js';
import { Typing } from './typing.js';
import { statusView } from './status.js';
import { attended, onAttention } from './attention.js';
import { notify, setUnread } from './notify.js';
import { el, confirmDialog } from './ui.js';

/* Error codes after which resending the same message cannot help. */
const PERMANENT = new Set(['bad_request', 'too_long', 'message_too_long', 'forbidden', 'not_found',
  'client_id_required', 'empty_message', 'bad_message', 'bad_client_msg_id']);

const MAX_CHARS = 4000;
let composerSeq = 0;

/*
 * container: the element to fill.  opt: {protocol, path, roomKey, me,
 * statusSlot (where the indicator goes), finalMessages, notifyLocally,
 * title (for notifications), onHistory(messages, isFirst), presence (a
 * PresenceLine of presence.js, told the presence frames), uploadRoomId
 * (attachments to that room; absent: no attach button)}.  Returns
 * {close, timeline, top, input} (top: a slot above the list, e.g. for
 * "Load older messages").
 */
export function openConversation(container, opt) {
  const { protocol, me } = opt;
  const id = `composer-${++composerSeq}`;
  const log = el('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-label': 'Messages', tabindex: '0' });
  const top = el('div', { class: 'log-top' });
  const typingLine = el('p', { class: 'typing', 'aria-live': 'polite' });
  const notice = el('p', { class: 'notice', role: 'alert', hidden: true });
  const input = el('textarea', { id, rows: '2', maxlength: String(MAX_CHARS), autocomplete: 'off',
    placeholder: 'Write a message…', enterkeyhint: 'send' });
  const label = el('label', { for: id, class: 'visually-hidden', text: 'Message' });
  const editBar = el('p', { class: 'edit-bar', hidden: true }, el('span', { text: 'Editing your message' }),
    el('button', { type: 'button', class: 'link', text: 'Cancel edit', onclick: () => endEdit() }));
  const sendButton = el('button', { type: 'submit', class: 'primary', text: 'Send' });
  const fileInput = el('input', { type: 'file', class: 'visually-hidden', id: `${id}-file`,
    accept: 'image/*,application/pdf,text/plain' });
  const attachLabel = opt.uploadRoomId != null &&
    el('label', { for: `${id}-file`, class: 'attach button', text: 'Attach' });
  const form = el('form', { class: 'composer' }, label, editBar, input,
    opt.uploadRoomId != null && fileInput, attachLabel, sendButton);

  const outbox = new Outbox(`${me.id}.${opt.roomKey}`);
  const lastSent = new Map();
  const timeline = new Timeline(log, {
    me,
    protocol,
    actions: { onEdit: startEdit, onDelete: askDelete, onDiscard: discard },
  });
  let live = false;
  let hadHistory = false;
  let editing = null;
  let localUnread = 0;
  let stream = null; /* {pos, epoch}: the room's last position seen */

  /* A reconnect resumes from the last id and, if known, position. */
  function resumeParams() {
    const p = { since: timeline.lastId() ?? 0 };
    if (stream) Object.assign(p, { since_pos: stream.pos, epoch: stream.epoch });
    return p;
  }

  const socket = new ReconnectingSocket(({ reconnect }) =>
    wsUrl(opt.path, reconnect && hadHistory ? resumeParams() : {}),
  { finalMessages: opt.finalMessages });
  const status = statusView(socket, opt.title);
  const typing = new Typing(typingLine, (isTyping) => socket.send(protocol.typing(isTyping)));

  opt.statusSlot.replaceChildren(status.indicator);
  container.replaceChildren(el('div', { class: 'conversation' }, status.banner, notice, top, log, typingLine, form));

  for (const item of outbox.items) {
    timeline.upsert({ cmid: item.client_msg_id, text: item.text, userId: me.id, username: me.username,
      ts: item.created }, 'pending');
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  /* Write the queued messages whose last try is older than resendMs. */
  function flush() {
    if (!live) return;
    const now = Date.now();
    for (const item of outbox.items) {
      const cmid = item.client_msg_id;
      if (now - (lastSent.get(cmid) ?? 0) < settings.resendMs) continue;
      if (!socket.send(protocol.message(item.text, cmid, item.attachments))) return;
      lastSent.set(cmid, now);
      timeline.setState(cmid, 'sent');
    }
  }

  /* The server has this message of ours: stop resending it. */
  function settled(cmid) {
    if (!cmid) return;
    outbox.remove(cmid);
    lastSent.delete(cmid);
  }

  function readAll() {
    if (protocol.receipts && live && attended()) socket.send(protocol.readAll());
  }

  function received(m) {
    const mine = m.userId === me.id;
    if (mine) settled(m.cmid);
    timeline.upsert(m);
    if (mine) return;
    typing.clearUser(m.userId);
    if (attended()) {
      if (protocol.receipts && m.id != null) socket.send(protocol.readOne(m.id));
    } else if (opt.notifyLocally) {
      setUnread('conversation', ++localUnread);
      notify(`${m.username} in ${opt.title}`, { body: m.text.slice(0, 140), tag: opt.roomKey });
    }
  }

  function history(messages) {
    const isFirst = !hadHistory;
    live = true;
    hadHistory = true;
    showNotice('');
    for (const raw of messages) {
      const m = protocol.normalize(raw);
      if (m.userId === me.id) settled(m.cmid);
      timeline.upsert(m);
    }
    flush();
    readAll();
    opt.onHistory?.(messages, isFirst);
  }

  function failed(f) {
    const cmid = f.client_msg_id;
    if (cmid && outbox.has(cmid)) {
      if (PERMANENT.has(f.code)) {
        settled(cmid);
        timeline.setState(cmid, 'failed', f.message);
      } else {
        timeline.setState(cmid, 'pending');
      }
      return;
    }
    showNotice(f.message || 'The server refused that.');
  }

  const handlers = {
    history: (f) => history(f.messages ?? []),
    ack: (f) => {
      settled(f.client_msg_id);
      timeline.ack(f.client_msg_id, f.id);
    },
    [protocol.messageType]: (f) => received(protocol.normalize(f)),
    typing: (f) => { if (f.user_id !== me.id) typing.show(f.user_id, protocol.typingName(f), f.is_typing); },
    read_receipt: (f) => timeline.addReader([f.message_id], f.user_id),
    bulk_read: (f) => timeline.addReader(f.message_ids ?? [], f.user_id),
    error: failed,
    presence: (f) => opt.presence?.list(f.users ?? []),
    presence_diff: (f) => opt.presence?.diff(f),
  };
  if (protocol.editedType) handlers[protocol.editedType] = (f) => timeline.edit(f.id, f.message);
  if (protocol.deletedType) handlers[protocol.deletedType] = (f) => timeline.remove(f.id);

  handlers.resumed = (f) => {
    stream = { pos: f.pos, epoch: f.epoch };
    history([]);
  };
  handlers.reload = () => { stream = null; }; /* the history follows */

  /* Keep the stream position of every frame that has one (the history's
   * comes with its epoch), then handle the frame. */
  function onFrame(f) {
    if (Number.isInteger(f.pos)) {
      if (f.type === 'history' && f.epoch) stream = { pos: f.pos, epoch: f.epoch };
      else if (stream && f.pos > stream.pos) stream.pos = f.pos;
    }
    handlers[f.type]?.(f);
  }

  socket.addEventListener('frame', (e) => onFrame(e.detail));
  socket.addEventListener('status', (e) => {
    if (e.detail.state === 'connected') return;
    live = false;
    timeline.unsend();
  });
  socket.addEventListener('final', () => {
    input.disabled = true;
    sendButton.disabled = true;
  });

  /* ---- composer, edit and delete ------------------------------------- */

  function send(text, attachments) {
    const item = outbox.add(text, attachments);
    timeline.upsert({ cmid: item.client_msg_id, text, userId: me.id, username: me.username, ts: item.created },
      'pending');
    timeline.stickToBottom();
    flush();
  }

  function startEdit(entry) {
    if (!socket.connected) {
      showNotice('Editing needs the connection; wait until it is back.');
      return;
    }
    editing = entry;
    input.value = entry.text;
    label.textContent = 'Edit message';
    editBar.hidden = false;
    input.focus();
  }

  function endEdit() {
    editing = null;
    input.value = '';
    label.textContent = 'Message';
    editBar.hidden = true;
    input.focus();
  }

  async function askDelete(entry) {
    if (!(await confirmDialog('Delete this message for everyone?', 'Delete'))) return;
    if (!socket.send(protocol.remove(entry.id))) showNotice('Deleting needs the connection; try again when it is back.');
  }

  function discard(entry) {
    timeline.discard(entry);
    input.focus();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (editing) {
      if (text && text !== editing.text && !socket.send(protocol.edit(editing.id, text))) {
        showNotice('Editing needs the connection; try again when it is back.');
        return;
      }
      endEdit();
      return;
    }
    if (!text) return;
    input.value = '';
    typing.stop();
    send(text);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === 'Escape' && editing) {
      endEdit();
    }
  });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    fileInput.value = '';
    if (!file) return;
    showNotice('');
    try {
      const att = await uploadAttachment(opt.uploadRoomId, file);
      const text = input.value.trim() || att.name;
      input.value = '';
      send(text, [att.id]);
    } catch (err) {
      showNotice(`Could not attach ${file.name}: ${err.message}`);
    }
  });
  input.addEventListener('input', () => { if (!editing && input.value) typing.input(); });
  input.addEventListener('blur', () => typing.stop());

  const offAttention = onAttention((now) => {
    if (!now) return;
    readAll();
    localUnread = 0;
    setUnread('conversation', 0);
  });
  const resend = setInterval(flush, Math.max(250, Math.min(settings.resendMs, 1000)));
  socket.start();

  return {
    timeline,
    top,
    input,
    close() {
      clearInterval(resend);
      offAttention();
      typing.destroy();
      status.destroy();
      socket.stop();
      setUnread('conversation', 0);
    },
  };
}
