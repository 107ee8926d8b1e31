/*
 * ui.js -- small DOM and formatting helpers every view uses: building
 * elements, dates and times for the message list (day keys and "Today" /
 * "Yesterday" labels), a modal confirmation built on <dialog>, form
 * error lines, and the hash route links.
 */

/* el('button', {class: 'x', onclick: fn, 'aria-label': 'y'}, 'text', child...)
 * Attributes: class, text, hidden (boolean), dataset (object), on* handlers,
 * anything else as an attribute (false / null / undefined: left out). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'hidden') node.hidden = Boolean(v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

const pad = (n) => String(n).padStart(2, '0');

/* "2026-11-23" in local time: the key of a date group. */
export function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/* "Today", "Yesterday" or the full local date. */
export function dayLabel(ts) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(ts) === dayKey(today)) return 'Today';
  if (dayKey(ts) === dayKey(yesterday)) return 'Yesterday';
  return new Date(ts).toLocaleDateString(undefined,
    { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

export function timeLabel(ts) {
  return new Date(ts).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/* A modal yes/no question; resolves true when confirmed. */
export function confirmDialog(question, confirmLabel = 'OK') {
  return new Promise((resolve) => {
    const dialog = el('dialog', { class: 'dialog', 'aria-label': question },
      el('form', { method: 'dialog' },
        el('p', { text: question }),
        el('div', { class: 'dialog-actions' },
          el('button', { value: 'cancel', class: 'secondary', text: 'Cancel' }),
          el('button', { value: 'ok', class: 'danger', text: confirmLabel }))));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/* Show (or with no message, hide) a form's error line. */
export function formError(form, message = '') {
  let line = form.querySelector('.form-error');
  if (!line) {
    line = el('p', { class: 'form-error', role: 'alert' });
    form.append(line);
  }
  line.textContent = message;
  line.hidden = !message;
}

/* Run a form's async submit with its buttons disabled and errors shown. */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    formError(form);
    try {
      await handler(new FormData(form));
    } catch (err) {
      formError(form, err.message);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
}

export const routes = {
  home: () => '#/',
  room: (id) => `#/room/${id}`,
  support: (publisherId) => (publisherId ? `#/support/${publisherId}` : '#/support'),
  tasks: (taskId) => (taskId ? `#/tasks/${taskId}` : '#/tasks'),
};

export function go(hash) {
  if (location.hash !== hash) location.hash = hash;
}

/* A view's header: a back link (shown on narrow screens), the title, and
 * a slot for the connection indicator. */
export function viewHeader(title, back = routes.home()) {
  const titleEl = el('h1', { class: 'view-title', text: title, tabindex: '-1' });
  const statusSlot = el('div', { class: 'status-slot' });
  const header = el('header', { class: 'view-header' },
    el('a', { class: 'back', href: back, 'aria-label': 'Back to the list' }, '‹ Back'),
    titleEl, statusSlot);
  return { header, title: titleEl, statusSlot };
}
