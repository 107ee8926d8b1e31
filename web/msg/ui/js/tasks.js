/*
 * tasks.js -- comments on a kanban task (#/tasks/<id>, seed 001's
 * /ws/task-comments/<task_id>/, plugins/taskcomments): a form to type a
 * task id, then that task's comments for its members.
 */
import { taskProtocol } from './protocols.js';
import { openConversation } from './conversation.js';
import { setTitleBase } from './notify.js';
import { el, go, viewHeader, routes } from './ui.js';

function taskForm(current) {
  const input = el('input', { id: 'task-id', name: 'task', type: 'number', min: '1', step: '1', required: true,
    inputmode: 'numeric', value: current ? String(current) : null });
  const form = el('form', { class: 'inline-form', 'aria-label': 'Open a task' },
    el('label', { for: 'task-id', text: 'Task id' }), input,
    el('button', { type: 'submit', class: 'secondary', text: 'Open' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(routes.tasks(Number(input.value)));
  });
  return form;
}

export function mountTasks(main, ctx, taskId) {
  const title = taskId ? `Task ${taskId} comments` : 'Task comments';
  const head = viewHeader(title, taskId ? routes.tasks() : routes.home());
  const body = el('div', { class: 'view-body' });
  const chrome = el('div', { class: 'pad' }, taskForm(taskId));
  let conv = null;
  main.replaceChildren(head.header, chrome, body);
  setTitleBase(`${title} · chanhost chat`);

  if (!taskId) {
    body.replaceChildren(el('p', { class: 'empty', text: 'Type the id of a task you are a member of.' }));
  } else {
    conv = openConversation(body, {
      protocol: taskProtocol,
      path: `/ws/task-comments/${taskId}/`,
      roomKey: `task-${taskId}`,
      me: ctx.me,
      statusSlot: head.statusSlot,
      title: `task ${taskId}`,
      notifyLocally: true,
      finalMessages: {
        4003: `You are not a member of task ${taskId}.`,
        4004: `Task ${taskId} has no comments yet: it has no members.`,
      },
    });
  }
  return { unmount() { conv?.close(); } };
}
