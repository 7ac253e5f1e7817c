// Settings pages: PLuG tokens (AATs), apps, custom attributes, tags.
//
// Everything the server returns or an agent typed goes into the page as
// text (dom.js h()). An AAT's secret is on the page only between "Create
// token" and "Done": then the element holding it is emptied and removed.

import { ApiError, api, describeError, listAll } from './api.js';
import { formatDate, h, mount } from './dom.js';

export const SETTINGS_SECTIONS = [
  { id: 'tokens', label: 'PLuG tokens' },
  { id: 'apps', label: 'Apps' },
  { id: 'attributes', label: 'Custom attributes' },
  { id: 'tags', label: 'Tags' },
  { id: 'audit', label: 'Audit log' },
  { id: 'email', label: 'Email' },
];

const AAT_TYPE = 'urn:devrev:params:oauth:token-type:aat';
const AAT_DEFAULT_DAYS = 365;
const AAT_MAX_DAYS = 1825; // identity-api.md: "days (default 365, max 1825)"

// schemas.custom.set's leaf types, and where a backend sends their values.
const LEAF_TYPES = [
  { id: 'rev_user', label: 'Users', where: 'rev_info.user_traits.custom_fields' },
  { id: 'account', label: 'Accounts', where: 'rev_info.account_traits.custom_fields' },
  { id: 'rev_org', label: 'Workspaces', where: 'rev_info.workspace_traits.custom_fields' },
];
const SCALAR_TYPES = [
  ['text', 'short text'],
  ['rich_text', 'long text'],
  ['int', 'whole number'],
  ['double', 'decimal number'],
  ['bool', 'true or false'],
  ['enum', 'one of a list of values'],
  ['date', 'date, like 2024-05-31'],
  ['timestamp', 'RFC 3339 time, like 2024-05-31T12:00:00Z'],
  ['tokens', 'searchable text'],
];
const FIELD_TYPES = [...SCALAR_TYPES, ['array', 'a list of one of the types above']];
const PREFIX = 'tnt__';

/** Draw one settings section into `view`; returns an object with unmount(). */
export function renderSettings(view, section, ctx) {
  const scope = new Scope();
  const nav = h('nav', { class: 'settings-nav', 'aria-label': 'Settings' },
    SETTINGS_SECTIONS.map((s) => h('a', {
      href: `/inbox/settings/${s.id}`,
      'aria-current': s.id === section ? 'page' : null,
      onclick: (e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        ctx.navigate(`/inbox/settings/${s.id}`);
      },
    }, s.label)));
  const label = SETTINGS_SECTIONS.find((s) => s.id === section).label;
  const body = h('section', { class: 'settings-body', 'aria-labelledby': 'settings-title' },
    h('h1', { id: 'settings-title' }, label),
    ctx.agent.role === 'admin' ? null : h('p', { class: 'notice', role: 'note' },
      'You can look around, but only an admin can change these settings.'));
  mount(view, nav, body);
  document.title = `${label} · Settings · openplug`;
  RENDERERS[section](body, scope, ctx);
  return { unmount() { scope.alive = false; } };
}

// --- shared pieces ------------------------------------------------------------

/** API calls that go quiet once the page they were made for is gone. */
class Scope {
  constructor() {
    this.alive = true;
  }

  api(call, body) {
    const never = new Promise(() => {});
    return api(call, body).then(
      (value) => (this.alive ? value : never),
      (error) => {
        if (!this.alive) return never;
        throw error;
      });
  }
}

let uidCounter = 0;
function uid(prefix) {
  uidCounter += 1;
  return `${prefix}-${uidCounter}`;
}

/** A label, its control and an optional help line (linked for screen readers). */
function field(input, label, help, extraClass) {
  if (!input.id) input.id = uid('f');
  const helpEl = help ? h('p', { class: 'hint', id: `${input.id}-help` }, help) : null;
  if (helpEl) input.setAttribute('aria-describedby', helpEl.id);
  return h('div', { class: `field${extraClass ? ` ${extraClass}` : ''}` },
    h('label', { for: input.id }, label), input, helpEl);
}

function checkboxField(input, label, help) {
  if (!input.id) input.id = uid('f');
  const helpEl = help ? h('p', { class: 'hint', id: `${input.id}-help` }, help) : null;
  if (helpEl) input.setAttribute('aria-describedby', helpEl.id);
  return h('div', { class: 'field check' },
    h('div', { class: 'check-row' }, input, h('label', { for: input.id }, label)), helpEl);
}

/**
 * An error line (role=alert) and a success line (role=status). Errors from
 * the API name their field; when `locate(fieldName)` finds the control it
 * is marked invalid, named by its label and focused.
 */
function notes() {
  const error = h('p', { class: 'error', role: 'alert', id: uid('err') });
  const ok = h('p', { class: 'ok', role: 'status' });
  let marked = [];
  const self = {
    el: h('div', { class: 'notes' }, error, ok),
    clear() {
      error.textContent = '';
      ok.textContent = '';
      for (const input of marked) {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('aria-errormessage');
      }
      marked = [];
    },
    ok(text) {
      self.clear();
      ok.textContent = text;
    },
    fail(text, where) {
      self.clear();
      if (where && where.input) {
        where.input.setAttribute('aria-invalid', 'true');
        where.input.setAttribute('aria-errormessage', error.id);
        marked.push(where.input);
        text = `${where.label}: ${text}`;
      }
      error.textContent = text;
      if (where && where.input) where.input.focus();
    },
    error(err, locate) {
      const name = err instanceof ApiError ? err.fieldName : null;
      const where = name && locate ? locate(name) : null;
      if (!where) return self.fail(describeError(err), null);
      // The control's label names the field: the reason once, without the API's field path.
      const message = String(err.message);
      self.fail(message.startsWith(`${name}:`) ? message.slice(name.length + 1).trim() : message, where);
    },
  };
  return self;
}

/** Disable `button` while `work()` runs. */
async function busy(button, work) {
  button.disabled = true;
  try {
    return await work();
  } finally {
    button.disabled = false;
  }
}

function selectContents(el) {
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
    el.focus();
    el.select();
    return;
  }
  el.focus();
  const range = document.createRange();
  range.selectNodeContents(el);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

/**
 * A "Copy" button for `getText()`. Without a clipboard (a page on plain
 * http other than localhost has none) the text in `target` is selected and
 * the agent is told to press Ctrl+C.
 */
function copyButton(label, accessibleName, getText, target) {
  const note = h('span', { class: 'copy-note', role: 'status' });
  const button = h('button', { type: 'button', class: 'copy', 'aria-label': accessibleName,
    onclick: async () => {
      note.textContent = '';
      try {
        if (!window.isSecureContext || !navigator.clipboard) throw new Error('no clipboard');
        await navigator.clipboard.writeText(getText());
        note.textContent = 'Copied.';
      } catch (e) {
        selectContents(target);
        note.textContent = 'Copying is not available here: the text is selected, press Ctrl+C (⌘C on a Mac).';
      }
    } }, label);
  return { button, note };
}

/**
 * An inline "Revoke? [Yes, revoke] [Cancel]" in place of `cell`'s contents
 * (Escape cancels). `question` names the group for screen readers, `short`
 * is what fits in the cell.
 */
function confirmInline(cell, { question, short, yes, onYes, onCancel }) {
  const keep = [...cell.childNodes];
  const restore = () => {
    mount(cell, keep);
    onCancel();
  };
  const cancel = h('button', { type: 'button', onclick: restore }, 'Cancel');
  const confirmBtn = h('button', { type: 'button', class: 'danger',
    onclick: () => busy(confirmBtn, onYes) }, yes);
  const group = h('div', { class: 'confirm', role: 'group', 'aria-label': question,
    onkeydown: (e) => {
      if (e.key === 'Escape') restore();
    } },
  h('span', { class: 'confirm-question', 'aria-hidden': 'true' }, short), confirmBtn, cancel);
  mount(cell, group);
  cancel.focus();
}

function td(label, ...children) {
  return h('td', { 'data-label': label }, ...children);
}

function dateCell(label, value, none = '—') {
  return td(label, value
    ? h('time', { datetime: value, title: new Date(value).toString() }, formatDate(value))
    : h('span', { class: 'hint' }, none));
}

function loading(text) {
  return h('p', { class: 'loading', role: 'status' }, text);
}

// --- PLuG tokens (AATs) -------------------------------------------------------

function renderTokens(body, scope) {
  let apps = [];
  const formNotes = notes();
  const listNotes = notes();

  const hint = h('input', { id: 'aat-hint', name: 'token_hint', maxlength: 255,
    autocomplete: 'off', required: true });
  const appSelect = h('select', { id: 'aat-app', name: 'client_id', required: true });
  const days = h('input', { id: 'aat-days', name: 'expires_in', type: 'number', min: 1,
    max: AAT_MAX_DAYS, step: 1, value: AAT_DEFAULT_DAYS, inputmode: 'numeric', required: true });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create token');
  const locate = (name) => ({
    token_hint: { input: hint, label: 'Name' },
    client_id: { input: appSelect, label: 'App' },
    aud: { input: appSelect, label: 'App' },
    expires_in: { input: days, label: 'Expires in (days)' },
  })[name] || null;

  const form = h('form', { class: 'settings-form', novalidate: true,
    'aria-labelledby': 'new-token-title', onsubmit: (e) => {
      e.preventDefault();
      createToken();
    } },
  h('h2', { id: 'new-token-title' }, 'New token'),
  h('div', { class: 'grid' },
    field(hint, 'Name', 'So you can tell tokens apart later, e.g. "shop backend (production)".'),
    field(appSelect, 'App', 'The website whose visitors this token signs in.'),
    field(days, 'Expires in (days)', `1 to ${AAT_MAX_DAYS}; ${AAT_DEFAULT_DAYS} is a year.`)),
  h('div', { class: 'actions' }, create),
  formNotes.el);

  const secretSlot = h('div', { class: 'secret-slot' });
  const listTitle = h('h2', { id: 'tokens-title', tabindex: -1 }, 'Tokens');
  const listSlot = h('div', { class: 'table-slot' }, loading('Loading tokens…'));

  body.append(
    h('p', { class: 'lead' },
      'A PLuG token (AAT, application access token) lets your website\'s backend sign in its ',
      'visitors to the chat widget: it exchanges the token and a visitor\'s details for a ',
      'short-lived session token (',
      h('code', {}, 'auth-tokens.create'),
      ') and gives only that session token to the page.'),
    secretSlot, form, listTitle, listNotes.el, listSlot, usageHelp());

  async function createToken() {
    const name = hint.value.trim();
    if (!name) {
      formNotes.fail('give the token a name, so you can recognise it later.',
        { input: hint, label: 'Name' });
      return;
    }
    const expiresIn = Number(days.value);
    if (days.value === '' || !Number.isInteger(expiresIn)) {
      formNotes.fail(`a whole number of days, 1 to ${AAT_MAX_DAYS}.`,
        { input: days, label: 'Expires in (days)' });
      return;
    }
    formNotes.clear();
    try {
      const made = await busy(create, () => scope.api('auth-tokens.create', {
        requested_token_type: AAT_TYPE,
        token_hint: name,
        client_id: appSelect.value || undefined,
        expires_in: expiresIn,
      }));
      showSecret(made, name);
      hint.value = '';
      days.value = String(AAT_DEFAULT_DAYS);
      loadList();
    } catch (err) {
      formNotes.error(err, locate);
    }
  }

  function showSecret(made, name) {
    const secret = h('textarea', { id: 'aat-secret', class: 'secret-value', readonly: true,
      rows: 2, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'aat-secret-warning' });
    secret.value = made.access_token;
    const copy = copyButton('Copy', 'Copy token', () => secret.value, secret);
    const title = h('h2', { id: 'aat-secret-title', tabindex: -1 }, 'Copy your new token now');
    const box = h('section', { class: 'secret-box', 'aria-labelledby': 'aat-secret-title' },
      title,
      h('div', { class: 'warning', id: 'aat-secret-warning' },
        h('p', {}, h('strong', {}, 'This is the only time it is shown.'),
          ' openplug keeps only a fingerprint of it; if you lose it, revoke it and create another.'),
        h('p', {}, 'Keep it on your server (an environment variable or a secret store). ',
          h('strong', {}, 'Never put it in front-end code'),
          ', a web page or an app: whoever holds it can sign in as any of your visitors.')),
      h('label', { for: 'aat-secret' }, `Token "${name}"`),
      secret,
      h('div', { class: 'actions' }, copy.button,
        h('button', { type: 'button', class: 'primary', onclick: done }, 'Done'), copy.note));
    form.hidden = true;
    mount(secretSlot, box);
    title.focus();

    function done() {
      secret.value = '';
      secretSlot.replaceChildren();
      form.hidden = false;
      listNotes.ok(`Token "${name}" created. From now on only its name is shown.`);
      listTitle.focus();
    }
  }

  function appName(clientId) {
    const app = apps.find((a) => a.app_id === clientId);
    return app ? app.name : clientId || '—';
  }

  function tokenRow(token) {
    const actions = td('Actions');
    if (token.status === 'active') {
      const revoke = h('button', { type: 'button', class: 'danger',
        'aria-label': `Revoke ${token.token_hint}`,
        onclick: () => confirmInline(actions, {
          question: `Revoke "${token.token_hint}"?`,
          short: 'Revoke?',
          yes: 'Yes, revoke',
          onCancel: () => revoke.focus(),
          onYes: async () => {
            try {
              await scope.api('auth-tokens.delete', { token_id: token.token_id });
              await loadList();
              listNotes.ok(`Token "${token.token_hint}" revoked: requests made with it now fail.`);
              listTitle.focus();
            } catch (err) {
              listNotes.error(err);
            }
          },
        }) }, 'Revoke');
      actions.append(revoke);
    }
    const status = token.status;
    return h('tr', { dataset: { tokenId: token.token_id } },
      h('th', { scope: 'row', 'data-label': 'Name' }, token.token_hint),
      td('App', appName(token.client_id)),
      dateCell('Created', token.created_date),
      dateCell('Expires', token.expires_at),
      dateCell('Last used', token.last_used_at, 'Never'),
      td('Status', h('span', { class: `token-status ${status}` },
        status.charAt(0).toUpperCase() + status.slice(1)),
      status === 'revoked' && token.revoked_at
        ? h('small', { class: 'when' }, ' ', formatDate(token.revoked_at)) : null),
      actions);
  }

  async function loadList() {
    try {
      const { tokens } = await scope.api('auth-tokens.list', { requested_token_type: AAT_TYPE });
      if (!tokens.length) {
        mount(listSlot, h('p', { class: 'empty' }, 'No PLuG tokens yet.'));
        return;
      }
      mount(listSlot, h('table', { class: 'settings-table tokens', 'aria-labelledby': 'tokens-title' },
        h('thead', {}, h('tr', {},
          ['Name', 'App', 'Created', 'Expires', 'Last used', 'Status'].map((c) => h('th', { scope: 'col' }, c)),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        h('tbody', {}, tokens.map(tokenRow))));
    } catch (err) {
      mount(listSlot);
      listNotes.error(err);
    }
  }

  async function load() {
    try {
      apps = (await scope.api('apps.list')).apps;
    } catch (err) {
      formNotes.error(err);
    }
    // The only app is the default; with several the agent chooses.
    const first = apps.length === 0 ? 'No apps yet: create one under Apps'
      : apps.length > 1 ? 'Choose an app…' : null;
    mount(appSelect, first ? h('option', { value: '' }, first) : null,
      apps.map((a) => h('option', { value: a.app_id }, `${a.name} (${a.app_id})`)));
    await loadList();
  }

  load();
}

function usageHelp() {
  const text = `curl -X POST ${location.origin}/auth-tokens.create \\
  -H "Authorization: $OPENPLUG_AAT" \\
  -H "Content-Type: application/json" \\
  -d '{"rev_info": {"user_ref": "customer-42", "user_traits": {"email": "ada@example.com"}}}'`;
  const code = h('pre', { class: 'code', tabindex: 0 }, h('code', {}, text));
  const copy = copyButton('Copy', 'Copy example request', () => text, code);
  return h('section', { class: 'help', 'aria-labelledby': 'token-usage-title' },
    h('h2', { id: 'token-usage-title' }, 'Using a token'),
    h('p', {}, 'When a visitor signs in to your website, your backend asks openplug for a session ',
      'token for them, with the PLuG token in the Authorization header:'),
    code,
    h('div', { class: 'actions' }, copy.button, copy.note),
    h('p', {}, 'The answer\'s ', h('code', {}, 'access_token'), ' is the ',
      h('code', {}, 'sessionToken'), ' for the snippet under Apps.'));
}

// --- apps -------------------------------------------------------------------

function snippetOf(appId) {
  // widget.md's snippet, verbatim but for the host and the app id.
  return `<script type="text/javascript" src="${location.origin}/static/plug.js"></script>
<script>
  (() => {
    window.plugSDK.init({
      app_id: '${appId}',
      session_token: sessionToken   // made by the site's backend; omit for anonymous visitors
    })
  })();
</script>`;
}

function renderApps(body, scope) {
  const listNotes = notes();
  const list = h('div', { class: 'app-list' }, loading('Loading apps…'));
  body.append(
    h('p', { class: 'lead' },
      'An app is a website that embeds the chat widget. The widget runs only on the app\'s ',
      'allowed origins; paste the snippet into every page where it should appear.'),
    listNotes.el, list, newAppForm(scope, (app) => {
      const card = appCard(app, scope);
      list.querySelector('.empty')?.remove();
      list.append(card);
      card.querySelector('h2').focus();
    }));

  (async () => {
    try {
      const { apps } = await scope.api('apps.list');
      mount(list, apps.length ? apps.map((a) => appCard(a, scope))
        : h('p', { class: 'empty' }, 'No apps yet.'));
    } catch (err) {
      mount(list);
      listNotes.error(err);
    }
  })();
}

function appCard(initial, scope) {
  let app = initial;
  const key = uid('app');
  const title = h('h2', { id: `${key}-title`, tabindex: -1 }, app.name);
  const appIdCode = h('code', { class: 'app-id' }, app.app_id);
  const copyId = copyButton('Copy', `Copy app ID of ${app.name}`, () => app.app_id, appIdCode);

  const saveNotes = notes();
  const name = h('input', { id: `${key}-name`, maxlength: 255, required: true, value: app.name });
  const requireId = h('input', { id: `${key}-require`, type: 'checkbox',
    checked: app.require_identification });
  const rows = h('ul', { class: 'origin-list', id: `${key}-origins` });
  const add = h('button', { type: 'button', onclick: () => {
    const input = addOriginRow('');
    input.focus();
  } }, 'Add origin');
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save changes');
  const originsHelp = h('p', { class: 'hint', id: `${key}-origins-help` },
    'Scheme, host and port of each website where the widget may run, e.g. ',
    h('code', {}, 'https://shop.example.com'), ' (no path). With none it runs nowhere.');

  function originInputs() {
    return [...rows.querySelectorAll('input')];
  }

  function renumber() {
    // By the row, not input.labels: rows are numbered before the card is in the page.
    [...rows.children].forEach((li, i) => {
      const input = li.querySelector('input');
      li.querySelector('label').textContent = `Origin ${i + 1}`;
      li.querySelector('button').setAttribute('aria-label',
        `Remove origin ${i + 1}${input.value ? ` (${input.value})` : ''}`);
    });
  }

  function addOriginRow(value) {
    const input = h('input', { id: uid(`${key}-origin`), type: 'url', value, inputmode: 'url',
      autocomplete: 'off', spellcheck: 'false', placeholder: 'https://shop.example.com',
      'aria-describedby': originsHelp.id, oninput: renumber });
    const remove = h('button', { type: 'button', class: 'link', onclick: () => {
      const li = remove.closest('li');
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      renumber();
      (next ? next.querySelector('input') : add).focus();
    } }, 'Remove');
    rows.append(h('li', {}, h('label', { for: input.id, class: 'visually-hidden' }), input, remove));
    renumber();
    return input;
  }

  function showOrigins() {
    rows.replaceChildren();
    for (const origin of app.allowed_origins) addOriginRow(origin);
  }
  showOrigins();

  const form = h('form', { class: 'settings-form app-form', novalidate: true,
    'aria-label': `Settings of ${app.name}`, onsubmit: async (e) => {
      e.preventDefault();
      // Blank rows are left out; `sent[i]` is the input of allowed_origins[i].
      const sent = originInputs().filter((input) => input.value.trim() !== '');
      const locate = (fieldName) => {
        const m = /^allowed_origins\[(\d+)\]$/.exec(fieldName);
        if (m && sent[Number(m[1])]) {
          const input = sent[Number(m[1])];
          return { input, label: input.closest('li').querySelector('label').textContent };
        }
        if (fieldName === 'name') return { input: name, label: 'Name' };
        if (fieldName === 'require_identification') return { input: requireId, label: 'Require identification' };
        return null;
      };
      try {
        const { app: saved } = await busy(save, () => scope.api('apps.update', {
          app_id: app.app_id,
          name: name.value.trim(),
          allowed_origins: sent.map((input) => input.value.trim()),
          require_identification: requireId.checked,
        }));
        app = saved;
        title.textContent = app.name;
        name.value = app.name;
        requireId.checked = app.require_identification;
        showOrigins();
        saveNotes.ok(app.allowed_origins.length
          ? `Saved. The widget may run on ${app.allowed_origins.join(', ')}.`
          : 'Saved. With no allowed origins the widget runs nowhere.');
      } catch (err) {
        saveNotes.error(err, locate);
      }
    } },
  field(name, 'Name'),
  h('fieldset', { class: 'origins', 'aria-describedby': originsHelp.id },
    h('legend', {}, 'Allowed origins'), originsHelp, rows, add),
  checkboxField(requireId, 'Require identification',
    'Visitors must be signed in by your backend (a session token); no anonymous chats.'),
  h('div', { class: 'actions' }, save),
  saveNotes.el);

  const availability = availabilityForm(app, scope, key);
  const visitorMail = visitorMailForm(app, scope, key);

  const snippet = snippetOf(app.app_id);
  const snippetTitleId = `${key}-snippet-title`;
  const pre = h('pre', { class: 'code snippet', tabindex: 0 }, h('code', {}, snippet));
  const copySnippet = copyButton('Copy snippet', `Copy snippet of ${app.name}`, () => snippet, pre);

  return h('section', { class: 'card app-card', 'aria-labelledby': title.id, dataset: { appId: app.app_id } },
    title,
    h('dl', { class: 'facts' },
      h('dt', {}, 'App ID'),
      h('dd', {}, appIdCode, ' ', copyId.button, copyId.note),
      h('dt', {}, 'Created'),
      h('dd', {}, formatDate(app.created_date))),
    form,
    availability,
    visitorMail,
    h('h3', { id: snippetTitleId }, 'Snippet to paste'),
    h('p', { class: 'hint' },
      'Before the closing ', h('code', {}, '</body>'), ' tag. ', h('code', {}, 'sessionToken'),
      ' is the session token your backend made for the signed-in visitor with a PLuG token; ',
      app.require_identification ? 'this app requires one.'
        : 'leave it undefined for anonymous visitors.'),
    pre,
    h('div', { class: 'actions' }, copySnippet.button, copySnippet.note));
}

// --- availability: office hours, reply time, away message -----------------------------

const WEEKDAYS = [['monday', 'Monday'], ['tuesday', 'Tuesday'], ['wednesday', 'Wednesday'],
  ['thursday', 'Thursday'], ['friday', 'Friday'], ['saturday', 'Saturday'], ['sunday', 'Sunday']];
const REPLY_TIMES = [
  ['', 'Say nothing'],
  ['minutes', 'Typically replies in a few minutes'],
  ['hour', 'Typically replies within an hour'],
  ['hours', 'Typically replies in a few hours'],
  ['day', 'Typically replies within a day'],
];

const dayHoursText = (intervals) => (intervals || []).map((i) => `${i.start}-${i.end}`).join(', ');

/** "09:00-12:00, 13:00-17:30" as intervals; the server checks the times. */
function parseDayHours(text) {
  return text.split(/[,;]/).map((p) => p.trim()).filter(Boolean).map((span) => {
    const [start = '', end = ''] = span.split(/\s*[-–—]\s*|\s+to\s+/);
    return { start: start.trim(), end: end.trim() };
  });
}

function availabilityForm(initial, scope, key) {
  let app = initial;
  const formNotes = notes();
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const tz = h('input', { id: `${key}-tz`, list: `${key}-tz-list`, autocomplete: 'off',
    spellcheck: 'false', maxlength: 64, value: app.time_zone });
  const tzList = h('datalist', { id: `${key}-tz-list` }, zones.map((z) => h('option', { value: z })));
  const hoursHelp = h('p', { class: 'hint', id: `${key}-hours-help` },
    'Open intervals per weekday in the time zone above, like ', h('code', {}, '09:00-12:00, 13:00-17:30'),
    '; an interval may run past midnight (', h('code', {}, '22:00-02:00'), '). Leave a day empty ',
    'to close it. With every day empty the team counts as always in.');
  const dayInputs = Object.fromEntries(WEEKDAYS.map(([day, label]) => [day, h('input', {
    id: `${key}-hours-${day}`, autocomplete: 'off', spellcheck: 'false', placeholder: 'closed',
    'aria-describedby': hoursHelp.id, 'data-label': label })]));
  const reply = h('select', { id: `${key}-reply` },
    REPLY_TIMES.map(([value, label]) => h('option', { value }, label)));
  const awayText = h('textarea', { id: `${key}-away`, rows: 3, maxlength: 2000 });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save availability');

  function show() {
    tz.value = app.time_zone;
    for (const [day] of WEEKDAYS) dayInputs[day].value = dayHoursText((app.office_hours || {})[day]);
    reply.value = app.reply_time || '';
    awayText.value = app.away_message || '';
  }
  show();

  const locate = (fieldName) => {
    const day = /^office_hours\.(\w+)/.exec(fieldName);
    if (day && dayInputs[day[1]]) return { input: dayInputs[day[1]], label: dayInputs[day[1]].dataset.label };
    if (fieldName === 'time_zone') return { input: tz, label: 'Time zone' };
    if (fieldName === 'reply_time') return { input: reply, label: 'Expected reply time' };
    if (fieldName === 'away_message') return { input: awayText, label: 'Away message' };
    return null;
  };

  return h('form', { class: 'settings-form availability-form', novalidate: true,
    'aria-labelledby': `${key}-availability-title`, onsubmit: async (e) => {
      e.preventDefault();
      const office_hours = {};
      for (const [day] of WEEKDAYS) office_hours[day] = parseDayHours(dayInputs[day].value);
      try {
        const { app: saved } = await busy(save, () => scope.api('apps.update', {
          app_id: app.app_id, time_zone: tz.value.trim(), office_hours,
          reply_time: reply.value, away_message: awayText.value,
        }));
        app = saved;
        show();
        formNotes.ok(app.office_hours
          ? `Saved. Office hours are in ${app.time_zone}; outside them the widget says the team is away.`
          : 'Saved. Without office hours the team counts as always in.');
      } catch (err) {
        formNotes.error(err, locate);
      }
    } },
  h('h3', { id: `${key}-availability-title` }, 'Availability'),
  field(tz, 'Time zone', 'An IANA name such as Europe/Berlin or America/New_York.'), tzList,
  h('fieldset', { class: 'office-hours', 'aria-describedby': hoursHelp.id },
    h('legend', {}, 'Office hours'), hoursHelp,
    h('div', { class: 'grid' }, WEEKDAYS.map(([day, label]) => field(dayInputs[day], label)))),
  field(reply, 'Expected reply time', 'Shown under the widget\'s title.'),
  field(awayText, 'Away message',
    'Posted once per conversation, as your team, when a visitor writes outside office hours. Empty: none.'),
  h('div', { class: 'actions' }, save),
  formNotes.el);
}

// --- email to visitors: how long a reply may wait unseen, where mails link to ----------

const MAIL_DELAYS = [[0, 'At once'], [60, 'After 1 minute'], [120, 'After 2 minutes'],
  [300, 'After 5 minutes'], [900, 'After 15 minutes'], [3600, 'After 1 hour'],
  [86400, 'After 1 day']];

function visitorMailForm(initial, scope, key) {
  let app = initial;
  const formNotes = notes();
  const delay = h('select', { id: `${key}-mail-delay` });
  const site = h('input', { id: `${key}-site-url`, type: 'url', inputmode: 'url', autocomplete: 'off',
    spellcheck: 'false', maxlength: 2048, placeholder: 'https://shop.example.com/help' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save email settings');

  function show() {
    // A delay set through the API that is not one of ours is still shown as it is.
    const options = MAIL_DELAYS.some(([s]) => s === app.mail_delay_seconds) ? MAIL_DELAYS
      : [...MAIL_DELAYS, [app.mail_delay_seconds, `After ${app.mail_delay_seconds} seconds`]]
        .sort((a, b) => a[0] - b[0]);
    delay.replaceChildren(...options.map(([value, label]) => h('option', { value: String(value) }, label)));
    delay.value = String(app.mail_delay_seconds);
    site.value = app.site_url || '';
  }
  show();

  const locate = (fieldName) => {
    if (fieldName === 'mail_delay_seconds') return { input: delay, label: 'Email a reply left unseen' };
    if (fieldName === 'site_url') return { input: site, label: 'Link in emails' };
    return null;
  };

  return h('form', { class: 'settings-form visitor-mail-form', novalidate: true,
    'aria-labelledby': `${key}-visitor-mail-title`, onsubmit: async (e) => {
      e.preventDefault();
      try {
        const { app: saved } = await busy(save, () => scope.api('apps.update', {
          app_id: app.app_id, mail_delay_seconds: Number(delay.value), site_url: site.value.trim(),
        }));
        app = saved;
        show();
        formNotes.ok(`Saved. Unseen replies are mailed ${delay.selectedOptions[0].textContent.toLowerCase()}${
          app.site_url ? `, with a link to ${app.site_url}` : ''}.`);
      } catch (err) {
        formNotes.error(err, locate);
      }
    } },
  h('h3', { id: `${key}-visitor-mail-title` }, 'Email to visitors'),
  field(delay, 'Email a reply left unseen',
    'A visitor with an email address who has not seen your reply in the widget by then gets it by mail, ' +
    'one mail per burst of replies.'),
  field(site, 'Link in emails',
    'Where the mail invites them back to the chat, e.g. your help page. Empty: the first allowed origin.'),
  h('div', { class: 'actions' }, save),
  formNotes.el);
}

function newAppForm(scope, onCreated) {
  const formNotes = notes();
  const name = h('input', { id: 'new-app-name', maxlength: 255, required: true, autocomplete: 'off' });
  const origins = h('textarea', { id: 'new-app-origins', rows: 3, spellcheck: 'false',
    placeholder: 'https://shop.example.com' });
  const requireId = h('input', { id: 'new-app-require', type: 'checkbox' });
  const create = h('button', { type: 'submit', class: 'primary' }, 'Create app');
  const form = h('form', { class: 'settings-form card', novalidate: true,
    'aria-labelledby': 'new-app-title', onsubmit: async (e) => {
      e.preventDefault();
      if (!name.value.trim()) {
        formNotes.fail('give the app a name.', { input: name, label: 'Name' });
        return;
      }
      const lines = origins.value.split('\n').map((l) => l.trim()).filter(Boolean);
      const locate = (fieldName) => {
        const m = /^allowed_origins\[(\d+)\]$/.exec(fieldName);
        if (m) return { input: origins, label: `Allowed origins, line ${Number(m[1]) + 1}` };
        if (fieldName === 'name') return { input: name, label: 'Name' };
        return null;
      };
      try {
        const { app } = await busy(create, () => scope.api('apps.create', {
          name: name.value.trim(), allowed_origins: lines, require_identification: requireId.checked,
        }));
        form.reset();
        formNotes.ok(`App "${app.name}" created.`);
        onCreated(app);
      } catch (err) {
        formNotes.error(err, locate);
      }
    } },
  h('h2', { id: 'new-app-title' }, 'New app'),
  field(name, 'Name', 'e.g. the website\'s name.'),
  field(origins, 'Allowed origins', 'One per line, like https://shop.example.com.'),
  checkboxField(requireId, 'Require identification'),
  h('div', { class: 'actions' }, create),
  formNotes.el);
  return form;
}

// --- custom attributes ---------------------------------------------------------

function typeLabel(f) {
  return f.field_type === 'array' ? `array of ${f.base_type}` : f.field_type;
}

function renderAttributes(body, scope) {
  let fragments = {}; // leaf_type -> fragment
  const formNotes = notes();
  const listNotes = notes();

  const leaf = h('select', { id: 'attr-leaf', name: 'leaf_type' },
    LEAF_TYPES.map((t) => h('option', { value: t.id }, `${t.label} (${t.id})`)));
  const name = h('input', { id: 'attr-name', name: 'name', maxlength: 68, autocomplete: 'off',
    spellcheck: 'false', required: true, oninput: noteExisting });
  const existing = h('p', { class: 'hint', id: 'attr-name-existing', role: 'status' });
  const type = h('select', { id: 'attr-type', name: 'field_type', onchange: showDependent },
    FIELD_TYPES.map(([id, what]) => h('option', { value: id }, `${id}: ${what}`)));
  const baseType = h('select', { id: 'attr-base-type', name: 'base_type', onchange: showDependent },
    SCALAR_TYPES.map(([id, what]) => h('option', { value: id }, `${id}: ${what}`)));
  const values = h('textarea', { id: 'attr-values', name: 'allowed_values', rows: 4,
    spellcheck: 'false' });
  const required = h('input', { id: 'attr-required', name: 'is_required', type: 'checkbox' });
  const description = h('input', { id: 'attr-description', name: 'description', maxlength: 4096,
    autocomplete: 'off' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save attribute');

  const baseField = field(baseType, 'Type of each item');
  const valuesField = field(values, 'Allowed values', 'One per line.');
  const nameField = h('div', { class: 'field' },
    h('label', { for: 'attr-name' }, 'Name'),
    h('div', { class: 'prefixed' }, h('span', { class: 'prefix', 'aria-hidden': 'true' }, PREFIX), name),
    h('p', { class: 'hint', id: 'attr-name-help' },
      'Lower-case letters, digits and _, starting with a letter. Your backend sends it as ',
      h('code', {}, `${PREFIX}name`), ' in custom_fields.'),
    existing);
  name.setAttribute('aria-describedby', 'attr-name-help attr-name-existing');

  function showDependent() {
    baseField.hidden = type.value !== 'array';
    valuesField.hidden = !(type.value === 'enum' || (type.value === 'array' && baseType.value === 'enum'));
  }
  showDependent();

  function bareName() {
    return name.value.trim().replace(/^tnt__/, '');
  }

  function noteExisting() {
    const frag = fragments[leaf.value];
    const found = frag && frag.fields.find((f) => f.name === bareName());
    existing.textContent = found
      ? `${PREFIX}${found.name} already exists on ${leafLabel(leaf.value)}: saving replaces its definition.`
      : '';
  }
  leaf.addEventListener('change', noteExisting);

  const locate = (fieldName) => {
    const map = [
      [/^leaf_type$/, leaf, 'Object type'],
      [/^fields\[0\]\.name$/, name, 'Name'],
      [/^fields\[0\]\.field_type$/, type, 'Type'],
      [/^fields\[0\]\.base_type$/, baseType, 'Type of each item'],
      [/^fields\[0\]\.allowed_values/, values, 'Allowed values'],
      [/^fields\[0\]\.is_required$/, required, 'Required'],
      [/^fields\[0\]\.description$/, description, 'Description'],
    ];
    const hit = map.find(([re]) => re.test(fieldName));
    return hit ? { input: hit[1], label: hit[2] } : null;
  };

  const form = h('form', { class: 'settings-form', novalidate: true,
    'aria-labelledby': 'attr-form-title', onsubmit: async (e) => {
      e.preventDefault();
      if (!bareName()) {
        formNotes.fail('give the attribute a name.', { input: name, label: 'Name' });
        return;
      }
      const spec = { name: bareName(), field_type: type.value, is_required: required.checked };
      if (type.value === 'array') spec.base_type = baseType.value;
      if (!valuesField.hidden) {
        spec.allowed_values = values.value.split('\n').map((v) => v.trim()).filter(Boolean);
      }
      if (description.value.trim()) spec.description = description.value.trim();
      const leafType = leaf.value;
      const existed = Boolean(fragments[leafType]?.fields.some((f) => f.name === spec.name));
      try {
        await busy(save, () => scope.api('schemas.custom.set', {
          type: 'tenant_fragment', leaf_type: leafType, fields: [spec],
        }));
        formNotes.ok(`${PREFIX}${spec.name} ${existed ? 'updated' : 'defined'} on ${leafLabel(leafType)}.`);
        name.value = '';
        values.value = '';
        description.value = '';
        required.checked = false;
        existing.textContent = '';
        await loadList();
      } catch (err) {
        formNotes.error(err, locate);
      }
    } },
  h('h2', { id: 'attr-form-title' }, 'Define an attribute'),
  h('div', { class: 'grid' },
    field(leaf, 'Object type'),
    nameField,
    field(type, 'Type'),
    baseField,
    valuesField,
    field(description, 'Description (optional)')),
  checkboxField(required, 'Required when a record is created',
    'New users (or accounts, workspaces) sent without a value are then refused.'),
  h('div', { class: 'actions' }, save),
  formNotes.el);

  const lists = h('div', { class: 'attribute-lists' }, loading('Loading attributes…'));
  body.append(
    h('p', { class: 'lead' },
      'Extra fields on users, accounts and workspaces. Your backend sends their values in ',
      h('code', {}, 'rev_info'), ' (e.g. ', h('code', {}, 'user_traits.custom_fields.tnt__plan'),
      '); a field must be defined here first, and values of another type are refused.'),
    form, listNotes.el, lists);

  function leafLabel(id) {
    return LEAF_TYPES.find((t) => t.id === id).label.toLowerCase();
  }

  function fieldRow(leafType, f) {
    const actions = td('Actions');
    const del = h('button', { type: 'button', class: 'danger',
      'aria-label': `Delete ${PREFIX}${f.name}`,
      onclick: () => confirmInline(actions, {
        question: `Delete ${PREFIX}${f.name}?`,
        short: 'Delete?',
        yes: 'Yes, delete',
        onCancel: () => del.focus(),
        onYes: async () => {
          try {
            await scope.api('schemas.custom.set', {
              type: 'tenant_fragment', leaf_type: leafType, deleted_fields: [f.name],
            });
            await loadList();
            listNotes.ok(`${PREFIX}${f.name} deleted from ${leafLabel(leafType)}: stored values stay, new ones are refused.`);
          } catch (err) {
            listNotes.error(err);
          }
        },
      }) }, 'Delete');
    actions.append(del);
    return h('tr', { dataset: { field: f.name } },
      h('th', { scope: 'row', 'data-label': 'Name' }, h('code', {}, `${PREFIX}${f.name}`)),
      td('Type', typeLabel(f)),
      td('Allowed values', f.allowed_values
        ? h('ul', { class: 'values' }, f.allowed_values.map((v) => h('li', {}, v)))
        : h('span', { class: 'hint' }, '—')),
      td('Required', f.is_required ? 'Yes' : 'No'),
      td('Description', f.description || h('span', { class: 'hint' }, '—')),
      actions);
  }

  function leafSection(t) {
    const frag = fragments[t.id];
    const fields = frag ? frag.fields : [];
    const deleted = frag ? frag.deleted_fields : [];
    const titleId = `attrs-${t.id}`;
    return h('section', { class: 'attribute-list', 'aria-labelledby': titleId, dataset: { leafType: t.id } },
      h('h2', { id: titleId }, `${t.label} `, h('small', {}, `(${t.id})`)),
      h('p', { class: 'hint' }, 'Sent in ', h('code', {}, t.where), '.'),
      fields.length
        ? h('table', { class: 'settings-table attributes', 'aria-labelledby': titleId },
          h('thead', {}, h('tr', {},
            ['Name', 'Type', 'Allowed values', 'Required', 'Description']
              .map((c) => h('th', { scope: 'col' }, c)),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h('tbody', {}, fields.map((f) => fieldRow(t.id, f))))
        : h('p', { class: 'empty' }, 'None defined.'),
      deleted.length
        ? h('p', { class: 'hint deleted' }, 'Deleted (stored values kept, new ones refused): ',
          deleted.map((n, i) => [i ? ', ' : '', h('code', {}, `${PREFIX}${n}`)]))
        : null);
  }

  async function loadList() {
    try {
      const { result } = await scope.api('schemas.custom.list');
      fragments = Object.fromEntries(result.map((f) => [f.leaf_type, f]));
      mount(lists, LEAF_TYPES.map(leafSection));
      noteExisting();
    } catch (err) {
      mount(lists);
      listNotes.error(err);
    }
  }

  loadList();
}

// --- tags ------------------------------------------------------------------------

const linesOf = (text) => [...new Set(text.split('\n').map((v) => v.trim()).filter(Boolean))];

/** tags.*: every agent reads the list; an admin creates, edits and deletes.
 * One form does both: Edit fills it with the tag, Save sends tags.update. */
function renderTags(body, scope, ctx) {
  const admin = ctx.agent.role === 'admin';
  const formNotes = notes();
  const listNotes = notes();
  let editing = null; // the tag the form edits, or null for a new one

  const name = h('input', { id: 'tag-name', name: 'name', maxlength: 255, autocomplete: 'off', required: true });
  const description = h('input', { id: 'tag-description', name: 'description', maxlength: 4096, autocomplete: 'off' });
  const values = h('textarea', { id: 'tag-values', name: 'allowed_values', rows: 3, spellcheck: 'false' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Create tag');
  const cancel = h('button', { type: 'button', hidden: true, onclick: () => edit(null) }, 'Cancel');
  const title = h('h2', { id: 'tag-form-title' }, 'Create a tag');
  const locate = (fieldName) => {
    const map = [[/^name$/, name, 'Name'], [/^description$/, description, 'Description'],
      [/^allowed_values/, values, 'Allowed values']];
    const hit = map.find(([re]) => re.test(fieldName));
    return hit ? { input: hit[1], label: hit[2] } : null;
  };

  function edit(tag) {
    editing = tag;
    name.value = tag ? tag.name : '';
    description.value = tag ? tag.description || '' : '';
    values.value = tag ? tag.allowed_values.join('\n') : '';
    title.textContent = tag ? `Edit ${tag.name}` : 'Create a tag';
    save.textContent = tag ? 'Save tag' : 'Create tag';
    cancel.hidden = !tag;
    formNotes.clear();
    if (tag) name.focus();
  }

  const form = h('form', { class: 'settings-form', novalidate: true, 'aria-labelledby': 'tag-form-title',
    onsubmit: async (e) => {
      e.preventDefault();
      if (!name.value.trim()) {
        formNotes.fail('give the tag a name.', { input: name, label: 'Name' });
        return;
      }
      const fields = { name: name.value.trim(), description: description.value.trim() };
      const allowed = linesOf(values.value);
      const was = editing;
      try {
        const { tag } = await busy(save, () => (was
          ? scope.api('tags.update', { id: was.id, ...fields, allowed_values: { set: allowed } })
          : scope.api('tags.create', { ...fields, allowed_values: allowed })));
        edit(null);
        formNotes.ok(`${tag.name} ${was ? 'saved' : 'created'}.`);
        await loadList();
      } catch (err) {
        formNotes.error(err, locate);
      }
    } },
  title,
  h('div', { class: 'grid' },
    field(name, 'Name', 'Unique in your organisation.'),
    field(description, 'Description (optional)'),
    field(values, 'Allowed values (optional)',
      'One per line. With values, an agent tagging a conversation picks one of them; '
      + 'without, the tag takes no value. Values already on conversations stay when you remove them here.')),
  h('div', { class: 'actions' }, save, cancel),
  formNotes.el);

  const list = h('div', { class: 'tag-list' }, loading('Loading tags…'));
  body.append(
    h('p', { class: 'lead' }, 'Labels agents put on conversations, optionally with a value '
      + '(e.g. priority: high). The inbox can show only the conversations with a tag.'),
    admin ? form : null, listNotes.el, list);

  function row(tag) {
    const actions = td('Actions');
    if (admin) {
      const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${tag.name}`,
        onclick: () => confirmInline(actions, {
          question: `Delete ${tag.name}? It is taken off every conversation.`,
          short: 'Delete?',
          yes: 'Yes, delete',
          onCancel: () => del.focus(),
          onYes: async () => {
            try {
              await scope.api('tags.delete', { id: tag.id });
              if (editing && editing.id === tag.id) edit(null);
              await loadList();
              listNotes.ok(`${tag.name} deleted and taken off every conversation.`);
            } catch (err) {
              listNotes.error(err);
            }
          },
        }) }, 'Delete');
      actions.append(h('button', { type: 'button', 'aria-label': `Edit ${tag.name}`, onclick: () => edit(tag) }, 'Edit'), ' ', del);
    }
    return h('tr', { dataset: { tag: tag.display_id } },
      h('th', { scope: 'row', 'data-label': 'Name' }, tag.name),
      td('Allowed values', tag.allowed_values.length
        ? h('ul', { class: 'values' }, tag.allowed_values.map((v) => h('li', {}, v)))
        : h('span', { class: 'hint' }, '—')),
      td('Description', tag.description || h('span', { class: 'hint' }, '—')),
      actions);
  }

  async function loadList() {
    try {
      const tags = await listAll((call, body) => scope.api(call, body), 'tags.list', 'tags');
      mount(list, tags.length
        ? h('table', { class: 'settings-table tags', 'aria-label': 'Tags' },
          h('thead', {}, h('tr', {}, ['Name', 'Allowed values', 'Description'].map((c) => h('th', { scope: 'col' }, c)),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h('tbody', {}, tags.map(row)))
        : h('p', { class: 'empty' }, 'No tags yet.'));
    } catch (err) {
      mount(list);
      listNotes.error(err);
    }
  }

  loadList();
}

// --- audit log -------------------------------------------------------------------

// What each action means, in the words of the page.
const AUDIT_ACTIONS = {
  'aat.created': 'PLuG token created',
  'aat.renamed': 'PLuG token renamed',
  'aat.revoked': 'PLuG token revoked',
  'pat.created': 'Personal access token created',
  'pat.renamed': 'Personal access token renamed',
  'pat.revoked': 'Personal access token revoked',
  'agent.created': 'Agent created',
  'agent.password_changed': 'Password changed',
  'agent.signed_in': 'Signed in to the inbox',
  'agent.signed_out': 'Signed out of the inbox',
  'app.created': 'App created',
  'app.updated': 'App settings changed',
  'visitor.merged': 'Anonymous visitor merged on login',
  'rev_user.sessions_revoked': "Visitor's sessions revoked",
  'rev_user.erased': 'Visitor erased',
  'rev_user.personal_data_exported': "Visitor's data exported",
};

function actorLabel(actor) {
  if (actor.type === 'system') return 'openplug (first start)';
  if (actor.type === 'operator') return 'command line';
  if (actor.type === 'rev_user') return `visitor ${actor.display_id}`;
  return actor.email || actor.display_id;
}

function detailsText(details) {
  return Object.entries(details || {}).map(([key, value]) => {
    if (value && typeof value === 'object' && 'from' in value && 'to' in value) {
      return `${key}: ${JSON.stringify(value.from)} → ${JSON.stringify(value.to)}`;
    }
    return `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`;
  }).join('; ');
}

/**
 * An admins-only table read page by page, newest first: `call` answers
 * `{[key]: [...], next_cursor}`, `rowOf` draws one item. `after` is put
 * below the table.
 */
function pagedAdminTable(body, scope, ctx, { intro, label, className, columns, call, key, rowOf,
  loadingText, emptyText, adminsOnlyText, after = null }) {
  const notesSlot = notes();
  const rows = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show older');
  const table = h('table', { class: `settings-table ${className}`, 'aria-label': label },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    rows);
  const status = loading(loadingText);
  body.append(intro, notesSlot.el, status, table, more, ...(after ? [after] : []));
  let cursor = null;

  async function loadPage() {
    try {
      const page = await scope.api(call, cursor ? { limit: 50, cursor } : { limit: 50 });
      status.remove();
      rows.append(...page[key].map(rowOf));
      if (!rows.children.length) {
        rows.append(h('tr', {}, h('td', { colspan: columns.length }, emptyText)));
      }
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
    } catch (err) {
      status.remove();
      notesSlot.error(err);
    }
  }

  more.addEventListener('click', () => busy(more, loadPage));
  if (ctx.agent.role !== 'admin') {
    status.remove();
    table.hidden = true;
    body.append(h('p', { class: 'empty' }, adminsOnlyText));
    return notesSlot;
  }
  loadPage();
  return notesSlot;
}

function renderAudit(body, scope, ctx) {
  function eventRow(e) {
    return h('tr', {},
      dateCell('When', e.created_date),
      td('What', AUDIT_ACTIONS[e.action] || e.action),
      td('Who', actorLabel(e.actor), h('span', { class: 'hint' }, ` (${e.actor.via})`)),
      td('From', e.address || '—'),
      td('Target', e.target),
      td('Details', detailsText(e.details)));
  }

  pagedAdminTable(body, scope, ctx, {
    intro: h('p', { class: 'hint' },
      'Who changed access to openplug, when and from where: tokens, agents, sign-ins, ',
      'apps, and visitors merged, logged out, exported or erased. Newest first.'),
    label: 'Audit log',
    className: 'audit',
    columns: ['When', 'What', 'Who', 'From', 'Target', 'Details'],
    call: 'audit-log.list',
    key: 'events',
    rowOf: eventRow,
    loadingText: 'Loading the audit log…',
    emptyText: 'Nothing yet.',
    adminsOnlyText: 'Only admins can read the audit log.',
  });
}

// --- email -----------------------------------------------------------------------

const MAIL_STATES = {
  queued: 'Waiting to be sent',
  sent: 'Sent',
  failed: 'Refused',
  held: 'Not sent: no SMTP server configured',
};
const MAIL_KINDS = {
  visitor_reply: 'Reply to a visitor',
  agent_new_conversation: 'New conversation (agent)',
  agent_unread: 'Unread message (agent)',
};

function renderEmail(body, scope, ctx) {
  const viewer = h('section', { class: 'mail-viewer', 'aria-label': 'Selected email', hidden: true,
    tabindex: '-1' });
  let notesSlot = null;

  async function show(mail, button) {
    await busy(button, async () => {
      const { mail: full } = await scope.api('outgoing-mail.get', { id: mail.id });
      const headers = h('dl', { class: 'mail-headers' },
        Object.entries(full.headers).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
      mount(viewer,
        h('h2', {}, full.subject),
        headers,
        h('pre', { class: 'mail-text' }, full.text),
        h('button', { type: 'button', class: 'secondary', onclick: () => {
          viewer.hidden = true;
          button.focus();
        } }, 'Close'));
      viewer.hidden = false;
      viewer.focus();
    });
  }

  function mailRow(m) {
    const open = h('button', { type: 'button', class: 'secondary',
      'aria-label': `Read the email to ${m.recipient}: ${m.subject}` }, 'Read');
    open.addEventListener('click', () => show(m, open).catch((err) => notesSlot.error(err)));
    return h('tr', {},
      dateCell('When', m.created_date),
      td('To', m.recipient),
      td('Subject', m.subject),
      td('What', MAIL_KINDS[m.kind] || m.kind),
      td('State', MAIL_STATES[m.state] || m.state,
        m.last_error ? h('span', { class: 'hint' }, ` (${m.last_error})`) : null),
      td('', open));
  }

  notesSlot = pagedAdminTable(body, scope, ctx, {
    intro: h('p', { class: 'hint' },
      'Every email openplug sent, or would have sent: replies that waited unseen go to the ',
      'visitor, new and unread conversations to agents. Without OPENPLUG_SMTP_URL nothing ',
      'leaves this server and the emails stay here to read. Newest first.'),
    label: 'Emails',
    className: 'mail',
    columns: ['When', 'To', 'Subject', 'What', 'State', ''],
    call: 'outgoing-mail.list',
    key: 'mails',
    rowOf: mailRow,
    loadingText: 'Loading emails…',
    emptyText: 'No email yet.',
    adminsOnlyText: 'Only admins can read the emails.',
    after: viewer,
  });
}

const RENDERERS = {
  tokens: renderTokens,
  apps: renderApps,
  attributes: renderAttributes,
  tags: renderTags,
  audit: renderAudit,
  email: renderEmail,
};
