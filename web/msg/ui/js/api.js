/*
 * api.js -- the fetch wrapper for the host's JSON API (docs/api.md).
 * Owns the request shape (same-origin, JSON body, the HttpOnly session
 * cookie sent by the browser), the error type every caller sees
 * (ApiError: HTTP status, the API's error code and its human message),
 * and the WebSocket URL of a path on this host.
 */

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/* method path [body] -> the answer's JSON; throws ApiError (status 0
 * when the host cannot be reached). */
export async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'unreachable', 'The server cannot be reached. Is chanhost running?');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    throw new ApiError(res.status, data?.error ?? 'http_error',
      data?.message ?? `The server answered ${res.status} ${res.statusText}`);
  }
  return data ?? {};
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body = {}) => request('POST', path, body),
  del: (path, body = {}) => request('DELETE', path, body),
};

/* POST a file (a File or Blob) as an attachment of room roomId, its body
 * raw (docs/api.md, "Attachments") -> {id, name, type, size}; throws
 * ApiError (413 too large, 415 a type the host refuses ...). */
export async function uploadAttachment(roomId, file) {
  const q = new URLSearchParams({ name: file.name || 'file' });
  let res;
  try {
    res = await fetch(`/api/rooms/${roomId}/attachments/?${q}`, {
      method: 'POST', credentials: 'same-origin', body: file,
      headers: { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' },
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'The file could not be sent. Is chanhost running?');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    throw new ApiError(res.status, data?.error ?? 'http_error',
      data?.message ?? `The server answered ${res.status} ${res.statusText}`);
  }
  return data;
}

/* ws:// or wss:// URL of path on this host, with query parameters. */
export function wsUrl(path, params = {}) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
  }
  return url.href;
}
