// Calls to openplug's API from the inbox. The credential is the HttpOnly
// sign-in cookie, which this script cannot read; every call carries the
// X-OpenPlug-Inbox header, without which the server refuses the cookie (a
// page on another site cannot add it).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `request failed (${status})`);
    this.status = status;
    this.body = body || {};
    this.fieldName = this.body.field_name || null;
  }
}

const listeners = new Set();

/** Called once the server says the sign-in is gone (401). */
export function onSignedOut(fn) {
  listeners.add(fn);
}

export function signedOut() {
  for (const fn of listeners) fn();
}

async function request(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { 'X-OpenPlug-Inbox': '1' },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, { message: 'The server cannot be reached. Check your connection.' });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch (e) {
    data = { message: `unexpected response (${response.status})` };
  }
  if (!response.ok) {
    if (response.status === 401 && path !== '/inbox/sign-in') signedOut();
    throw new ApiError(response.status, data);
  }
  return data;
}

/** POST a JSON body to an API call, e.g. api('conversations.list', {limit: 50}). */
export function api(call, body = {}) {
  return request('POST', call.startsWith('/') ? call : `/${call}`, body);
}

/** Every item of a paged list call, e.g. listAll(api, 'tags.list', 'tags'),
 * a page of 100 (the most a list call answers) at a time; `call` makes each
 * call (a settings page passes its scope's). */
export async function listAll(call, name, key) {
  const items = [];
  let cursor = null;
  do {
    const page = await call(name, cursor ? { limit: 100, cursor } : { limit: 100 });
    items.push(...page[key]);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

export function getJson(path) {
  return request('GET', path);
}

/** The message to show for a failed call, naming the field when there is one. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return String(error && error.message || error);
  return error.fieldName && !error.message.includes(error.fieldName)
    ? `${error.fieldName}: ${error.message}`
    : error.message;
}
