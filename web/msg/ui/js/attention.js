/*
 * attention.js -- is the user looking at this tab?  Owns the one answer
 * the rest of the page uses (visible and focused, as seed 004's
 * document.hasFocus()) and the notification of its changes (visibility,
 * focus and blur events).
 */

const listeners = new Set();
let last = null;

export function attended() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

function changed() {
  const now = attended();
  if (now === last) return;
  last = now;
  for (const fn of [...listeners]) fn(now);
}

for (const [target, type] of [[document, 'visibilitychange'], [window, 'focus'], [window, 'blur']]) {
  target.addEventListener(type, () => queueMicrotask(changed));
}

/* fn(isAttended) on every change; returns the unsubscribe function. */
export function onAttention(fn) {
  if (last === null) last = attended();
  listeners.add(fn);
  return () => listeners.delete(fn);
}
