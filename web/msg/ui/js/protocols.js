/*
 * protocols.js -- the wire formats of the three conversation kinds, so
 * that conversation.js and timeline.js handle one message shape:
 *
 *   {id, cmid, text, userId, username, ts, readBy: [user ids], edited,
 *    deleted, role, attachments: [{id, name, type, size}]}
 *
 *   chat     plugins/chatroom: chat_message, ack, edit_message /
 *            delete_message -> message_edited / message_deleted,
 *            read_receipt / bulk_read, typing {username}
 *   task     plugins/taskcomments: comment, edit_comment / delete_comment
 *            -> comment_edited / comment_deleted, typing {username}
 *   support  plugins/support: message {sender_id, sender_name,
 *            sender_role}, typing {user_name}; no edits, no receipts
 *
 * Each protocol also says how to build its outgoing frames.  Messages
 * from the REST history (the chat frames' shape, docs/api.md) are
 * normalised by fromStore.
 */

const common = {
  typing: (isTyping) => ({ type: 'typing', is_typing: isTyping }),
  ping: () => ({ type: 'ping' }),
};

/* chatroom's and taskcomments' payload: id, message, username, user_id,
 * timestamp, client_msg_id (+ history's edited_at, is_deleted, read_by). */
function fromChatcore(f) {
  return {
    id: f.id ?? null,
    cmid: f.client_msg_id ?? null,
    text: f.message ?? '',
    userId: f.user_id,
    username: f.username ?? `user ${f.user_id}`,
    ts: f.timestamp ?? Date.now(),
    readBy: Array.isArray(f.read_by) ? f.read_by : [],
    edited: Boolean(f.edited_at),
    deleted: Boolean(f.is_deleted),
    role: null,
    attachments: Array.isArray(f.attachments) ? f.attachments : [],
  };
}

export const chatProtocol = {
  kind: 'chat',
  messageType: 'chat_message',
  editedType: 'message_edited',
  deletedType: 'message_deleted',
  receipts: true,
  editable: true,
  normalize: fromChatcore,
  typingName: (f) => f.username,
  message: (text, cmid, attachments) => ({ type: 'chat_message', message: text, client_msg_id: cmid,
    ...(attachments?.length ? { attachments } : {}) }),
  edit: (id, text) => ({ type: 'edit_message', message_id: id, message: text }),
  remove: (id) => ({ type: 'delete_message', message_id: id }),
  readOne: (id) => ({ type: 'read_receipt', message_id: id }),
  readAll: () => ({ type: 'bulk_read' }),
  ...common,
};

export const taskProtocol = {
  kind: 'task',
  messageType: 'comment',
  editedType: 'comment_edited',
  deletedType: 'comment_deleted',
  receipts: false,
  editable: true,
  normalize: fromChatcore,
  typingName: (f) => f.username,
  message: (text, cmid) => ({ type: 'comment', message: text, client_msg_id: cmid }),
  edit: (id, text) => ({ type: 'edit_comment', message_id: id, message: text }),
  remove: (id) => ({ type: 'delete_comment', message_id: id }),
  ...common,
};

export const supportProtocol = {
  kind: 'support',
  messageType: 'message',
  editedType: null,
  deletedType: null,
  receipts: false,
  editable: false,
  normalize: (f) => ({
    id: f.id ?? null,
    cmid: f.client_msg_id ?? null,
    text: f.message ?? '',
    userId: f.sender_id,
    username: f.sender_name || `user ${f.sender_id}`,
    ts: f.timestamp ?? Date.now(),
    readBy: [],
    edited: false,
    deleted: false,
    role: f.sender_role ?? null,
  }),
  typingName: (f) => f.user_name,
  message: (text, cmid) => ({ type: 'message', message: text, client_msg_id: cmid }),
  ...common,
};

/* A message of GET /api/rooms/<id>/messages/ (the frames' shape, a
 * plugin's own fields such as sender_name and sender_role beside it). */
export function fromStore(m) {
  return {
    id: m.id,
    cmid: m.client_msg_id ?? null,
    text: m.message ?? '',
    userId: m.user_id,
    username: m.username ?? m.sender_name ?? `user ${m.user_id}`,
    ts: m.timestamp,
    readBy: Array.isArray(m.read_by) ? m.read_by.map((r) => (typeof r === 'object' ? r.user_id : r)) : [],
    edited: Boolean(m.edited_at),
    deleted: Boolean(m.is_deleted),
    role: m.sender_role ?? null,
    attachments: Array.isArray(m.attachments) ? m.attachments : [],
  };
}
