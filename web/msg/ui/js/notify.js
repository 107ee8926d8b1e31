/*
 * notify.js -- telling a user who is not looking (seed 004): the tab
 * title shows "(N) ..." with the unread count while the tab is hidden or
 * unfocused, and browser notifications appear when permission was given.
 * Owns the title, the unread counts per source (the lobby's rooms, an
 * open support or task conversation) and the permission request (which
 * browsers only allow from a click).
 */
import { attended, onAttention } from './attention.js';

const counts = new Map();
let base = document.title;

function total() {
  let n = 0;
  for (const v of counts.values()) n += v;
  return n;
}

function updateTitle() {
  const n = total();
  document.title = n > 0 && !attended() ? `(${n}) ${base}` : base;
}

onAttention(updateTitle);

export function setTitleBase(title) {
  base = title;
  updateTitle();
}

/* The unread count of one source ("rooms", "conversation"). */
export function setUnread(source, n) {
  counts.set(source, Math.max(0, n | 0));
  updateTitle();
}

export function permission() {
  return 'Notification' in window ? Notification.permission : 'unsupported';
}

export async function askPermission() {
  if (permission() !== 'default') return permission();
  try {
    return await Notification.requestPermission();
  } catch {
    return permission();
  }
}

/* A browser notification, only when the user is not looking and has
 * allowed them; onClick brings the tab forward first. */
export function notify(title, { body = '', tag, onClick } = {}) {
  if (attended() || permission() !== 'granted') return;
  try {
    const n = new Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      onClick?.();
      n.close();
    };
  } catch {
    /* some browsers allow notifications only from a service worker */
  }
}
