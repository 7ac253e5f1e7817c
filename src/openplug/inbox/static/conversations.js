// The inbox: conversations (open first, newest activity first, unread
// marked) in three views (Mine, Unassigned, All), the selected
// conversation with its visitor's profile beside it, a reply box,
// resolve/reopen, assignment and tags, all kept live by the inbox socket
// (the list can show one tag's conversations only); and notifications of
// visitors' messages (see notify.js).

import { api, describeError, listAll, signedOut } from './api.js';
import { formatDate, formatMoment, h, keyOf, mount } from './dom.js';
import { Notifier, preferencesPanel } from './notify.js';
import { InboxSocket } from './socket.js';
import '/static/widget/files.js';

const Files = globalThis.openplugFiles;

const PAGE = 50;
// conversations.list's largest page: the open conversations the view
// counts are taken from.
const MAX_PAGE = 100;
const VIEWS = [
  { id: 'mine', label: 'Mine', filter: (me) => ({ owned_by: [me] }) },
  { id: 'unassigned', label: 'Unassigned', filter: () => ({ is_unassigned: true }) },
  { id: 'all', label: 'All', filter: () => ({}) },
];
const TYPING_SHOWN_MS = 6000;
const TYPING_SEND_EVERY_MS = 3000;

/** One message, whether it came from timeline-entries.list or the socket.
 * A sys_user is the app's team: what openplug posted for it (the away message). */
/** An internal note (agents only) or a private entry (its author only):
 * never seen by the visitor, so shown apart. */
const isNote = (visibility) => visibility === 'internal' || visibility === 'private';

function fromEntry(e) {
  const author = e.created_by || {};
  return { id: e.id, seq: e.seq, body: e.body, created: e.created_date, artifacts: e.artifacts || [],
    author: author.display_name || 'Unknown', note: isNote(e.visibility),
    fromAgent: author.type === 'dev_user' || author.type === 'sys_user' };
}

function fromEvent(m) {
  return { id: m.id, seq: m.seq, body: m.body, created: m.created_date, artifacts: m.artifacts || [],
    author: (m.author && m.author.display_name) || 'Unknown', fromAgent: m.from_agent,
    note: isNote(m.visibility) };
}

/** A message of files alone, in a list's preview. */
function filesText(artifacts) {
  return (artifacts || []).map((a) => a.file.name).join(', ') || '(no text)';
}

function visitorOf(conversation) {
  return (conversation.members && conversation.members[0]) || null;
}

function selectedKeyFromUrl() {
  const value = new URLSearchParams(location.search).get('c');
  return value && /^\d+$/.test(value) ? value : null;
}

function viewFromUrl() {
  const value = new URLSearchParams(location.search).get('view');
  return VIEWS.some((v) => v.id === value) ? value : 'all';
}

function inboxUrl(view, key) {
  const params = new URLSearchParams();
  if (view !== 'all') params.set('view', view);
  if (key) params.set('c', key);
  const query = params.toString();
  return query ? `/inbox?${query}` : '/inbox';
}

export class InboxView {
  constructor(view, ctx) {
    this.ctx = ctx;
    this.view = viewFromUrl();
    this.conversations = { open: [], resolved: [] };
    this.cursors = { open: null, resolved: null };
    this.counts = null; // open conversations per view, from one page of them all
    this.agents = []; // whom a conversation may be assigned to (dev-users.list)
    this.tags = []; // the org's tags (tags.list): the tag picker and the list's filter
    this.tagFilter = ''; // a tag's id: the list shows only conversations with it
    this.tagFilterEl = h('div', { class: 'tag-filter' });
    this.selected = null; // the open conversation's view state
    this.refreshTimer = null;
    this.notifier = new Notifier({ onOpen: (key) => this.open(key, true) });
    this.viewsEl = h('nav', { class: 'views', 'aria-label': 'Views' });
    this.listEl = h('nav', { class: 'conversation-list', 'aria-label': 'Conversations' });
    this.listError = h('p', { class: 'error', role: 'alert' });
    this.pane = h('section', { class: 'conversation', 'aria-label': 'Conversation' },
      h('p', { class: 'empty' }, 'Select a conversation.'));
    Files.dropOn(this.pane, (files) => { if (this.selected && this.selected.files) this.selected.files.add(files); });
    this.profile = h('aside', { class: 'profile', 'aria-label': 'Visitor profile' }, profilePlaceholder());
    mount(view,
      h('aside', { class: 'list-pane' }, h('h1', { class: 'visually-hidden' }, 'Inbox'),
        this.viewsEl, this.tagFilterEl, preferencesPanel(this.notifier, ctx), this.listError, this.listEl),
      this.pane, this.profile);
    this.renderViews();
    this.loadAgents();
    this.loadTags();
    this.socket = new InboxSocket({
      onEvent: (topic, event) => this.onEvent(topic, event),
      onStatus: (s) => { ctx.status.textContent = s === 'live' ? 'Live' : 'Reconnecting…';
        ctx.status.dataset.state = s; },
      onSignedOut: signedOut,
    });
    this.socket.subscribe('inbox');
    this.socket.start();
    // A conversation open in a background tab is read when the tab is seen.
    this.onVisible = () => { if (!document.hidden) this.markRead(); };
    document.addEventListener('visibilitychange', this.onVisible);
    this.loadList().then(() => {
      const key = selectedKeyFromUrl();
      if (key) this.open(key, false);
    });
  }

  unmount() {
    document.removeEventListener('visibilitychange', this.onVisible);
    this.notifier.stop();
    this.socket.stop();
    clearTimeout(this.refreshTimer);
    if (this.selected) clearTimeout(this.selected.typingTimer);
  }

  // --- the list --------------------------------------------------------------------

  viewFilter() {
    const filter = VIEWS.find((v) => v.id === this.view).filter(this.ctx.agent.id);
    return this.tagFilter ? { ...filter, tags: [this.tagFilter] } : filter;
  }

  async loadList() {
    const filter = this.viewFilter();
    const view = this.view;
    // All views count from one page of every open conversation; the All
    // view's own list is that page.
    const openLimit = view === 'all' ? MAX_PAGE : Math.min(MAX_PAGE, Math.max(PAGE, this.conversations.open.length));
    try {
      const [open, resolved, everyOpen] = await Promise.all([
        api('conversations.list', { status: ['open'], ...filter, limit: openLimit }),
        api('conversations.list', { status: ['resolved'], ...filter,
          limit: Math.min(MAX_PAGE, Math.max(20, this.conversations.resolved.length)) }),
        // Counted within the tag shown, as the lists are.
        view === 'all' ? null : api('conversations.list', { status: ['open'], limit: MAX_PAGE,
          ...(this.tagFilter ? { tags: [this.tagFilter] } : {}) }),
      ]);
      if (view !== this.view) return; // switched meanwhile; that load renders
      this.conversations = { open: open.conversations, resolved: resolved.conversations };
      this.cursors = { open: open.next_cursor, resolved: resolved.next_cursor };
      this.counts = this.countViews(everyOpen || open);
      this.listError.textContent = '';
    } catch (e) {
      this.listError.textContent = describeError(e);
    }
    this.renderViews();
    this.renderList();
  }

  countViews(page) {
    const me = this.ctx.agent.id;
    const owners = (c) => c.owned_by || [];
    const more = page.next_cursor ? '+' : '';
    return {
      all: `${page.conversations.length}${more}`,
      mine: `${page.conversations.filter((c) => owners(c).some((o) => o.id === me)).length}${more}`,
      unassigned: `${page.conversations.filter((c) => owners(c).length === 0).length}${more}`,
    };
  }

  setView(id) {
    if (id === this.view) return;
    this.view = id;
    history.pushState(null, '', inboxUrl(id, this.selected && this.selected.key));
    this.conversations = { open: [], resolved: [] };
    this.cursors = { open: null, resolved: null };
    this.renderViews();
    this.renderList();
    this.loadList();
  }

  renderViews() {
    mount(this.viewsEl, VIEWS.map((v) => {
      const count = this.counts ? this.counts[v.id] : null;
      return h('a', {
        href: inboxUrl(v.id, this.selected && this.selected.key),
        'aria-current': v.id === this.view ? 'true' : null,
        dataset: { view: v.id },
        title: count === null ? null : `${count} open`,
        onclick: (e) => { if (e.button !== 0 || e.metaKey || e.ctrlKey) return; e.preventDefault(); this.setView(v.id); },
      }, v.label, count === null ? null : [' ', h('span', { class: 'count', 'aria-label': `${count} open` }, count)]);
    }));
  }

  async loadAgents() {
    try {
      this.agents = await listAll(api, 'dev-users.list', 'dev_users');
    } catch (e) {
      return; // only the picker is affected: "Assign to me" still works
    }
    if (this.selected && this.selected.conversation) this.renderAssignment();
  }

  async loadTags() {
    try {
      this.tags = await listAll(api, 'tags.list', 'tags');
    } catch (e) {
      return; // only tagging is affected: the tags already on a conversation still show
    }
    this.renderTagFilter();
    if (this.selected && this.selected.conversation) this.renderTags();
  }

  renderTagFilter() {
    if (!this.tags.length) {
      mount(this.tagFilterEl);
      return;
    }
    const select = h('select', { id: 'tag-filter', name: 'tag-filter', onchange: () => {
      this.tagFilter = select.value;
      this.conversations = { open: [], resolved: [] };
      this.cursors = { open: null, resolved: null };
      this.renderList();
      this.loadList();
    } }, h('option', { value: '' }, 'Any tag'),
    this.tags.map((t) => h('option', { value: t.id, selected: t.id === this.tagFilter }, t.name)));
    mount(this.tagFilterEl, h('label', { for: 'tag-filter' }, 'Tagged'), select);
  }

  async loadMore(status) {
    try {
      const page = await api('conversations.list', { status: [status], ...this.viewFilter(), limit: PAGE, cursor: this.cursors[status] });
      this.conversations[status].push(...page.conversations);
      this.cursors[status] = page.next_cursor;
    } catch (e) {
      this.listError.textContent = describeError(e);
    }
    this.renderList();
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.loadList(), 150);
  }

  renderList() {
    const section = (status, title) => {
      const items = this.conversations[status];
      const none = status === 'open'
        ? { mine: 'No open conversations assigned to you.', unassigned: 'Every open conversation has an owner.', all: 'No open conversations.' }[this.view]
        : 'None yet.';
      return [
        h('h2', { class: 'list-heading' }, title, ' ', h('span', { class: 'count' }, String(items.length))),
        items.length === 0 ? h('p', { class: 'empty' }, none) : null,
        h('ul', { class: 'items', 'aria-label': `${title} conversations` }, items.map((c) => this.listItem(c))),
        this.cursors[status] ? h('button', { type: 'button', class: 'link more',
          onclick: () => this.loadMore(status) }, 'Load more') : null,
      ];
    };
    mount(this.listEl, section('open', 'Open'), section('resolved', 'Resolved'));
  }

  listItem(c) {
    const visitor = visitorOf(c);
    const last = c.messages && c.messages[c.messages.length - 1];
    const unread = c.unread_count > 0;
    const key = keyOf(c.id);
    const active = this.selected && this.selected.key === key;
    return h('li', {}, h('a', {
      href: `/inbox?c=${key}`,
      class: `conversation-item${unread ? ' unread' : ''}${active ? ' active' : ''}`,
      'aria-current': active ? 'true' : null,
      dataset: { conversation: c.display_id },
      onclick: (e) => { if (e.button !== 0 || e.metaKey || e.ctrlKey) return; e.preventDefault(); this.open(key, true); },
    },
      h('span', { class: 'name' }, visitor ? visitor.display_name : 'No visitor',
        visitor && visitor.is_verified ? h('span', { class: 'badge verified', title: 'Identified by your website' }, '✓') : null),
      h('time', { datetime: c.last_message_date || c.modified_date }, formatDate(c.last_message_date || c.modified_date)),
      h('span', { class: 'preview' }, last ? `${this.authorPrefix(last)}${last.body || filesText(last.artifacts)}` : (c.title || '')),
      unread ? h('span', { class: 'badge unread-count', 'aria-label': `${c.unread_count} unread` }, String(c.unread_count)) : null,
      h('span', { class: `owner${(c.owned_by || []).length ? '' : ' none'}` }, this.ownersText(c.owned_by))));
  }

  /** "You", "Sam", "You, Sam" or "Unassigned". */
  ownersText(owners) {
    if (!owners || owners.length === 0) return 'Unassigned';
    return owners.map((o) => (o.id === this.ctx.agent.id ? 'You' : o.display_name)).join(', ');
  }

  authorPrefix(entry) {
    if (isNote(entry.visibility)) return 'Note: ';
    const by = entry.created_by;
    if (by && by.type === 'sys_user') return `${by.display_name} (automatic): `;
    if (!by || by.type !== 'dev_user') return '';
    return by.id === this.ctx.agent.id ? 'You: ' : `${by.display_name}: `;
  }

  findConversation(key) {
    return [...this.conversations.open, ...this.conversations.resolved].find((c) => keyOf(c.id) === key);
  }

  // --- one conversation ---------------------------------------------------------------

  async open(key, push) {
    if (push) history.pushState(null, '', inboxUrl(this.view, key));
    if (this.selected) {
      clearTimeout(this.selected.typingTimer);
      if (this.selected.files) this.selected.files.clear(); // uploads for that reply stop
      this.socket.unsubscribe(`conversation:${this.selected.key}`);
      this.socket.unsubscribe(`notes:${this.selected.key}`);
    }
    const state = this.selected = { key, id: null, messages: new Map(), cursor: null,
      visitorReadSeq: 0, typingTimer: null, lastTypingSent: 0, conversation: null };
    this.renderViews();
    this.renderList();
    mount(this.pane, h('p', { class: 'empty' }, 'Loading…'));
    let conversation;
    let entries;
    try {
      conversation = (await api('conversations.get', { id: `CONV-${key}` })).conversation;
      state.id = conversation.id;
      entries = await api('timeline-entries.list', { object: conversation.id, limit: PAGE });
    } catch (e) {
      mount(this.pane, h('p', { class: 'error', role: 'alert' }, describeError(e)));
      return;
    }
    if (this.selected !== state) return;
    state.conversation = conversation;
    state.visitorReadSeq = conversation.members_read_seq || 0;
    for (const entry of entries.timeline_entries) state.messages.set(entry.seq, fromEntry(entry));
    state.cursor = entries.next_cursor;
    this.renderConversation();
    this.loadProfile(conversation);
    // The visitor's stream and the agents' notes: one seq space, two topics,
    // so no visitor's socket ever carries a note.
    this.socket.subscribe(`conversation:${key}`, conversation.last_seq);
    this.socket.subscribe(`notes:${key}`, conversation.last_seq);
    this.markRead();
  }

  renderConversation() {
    const state = this.selected;
    const c = state.conversation;
    const visitor = visitorOf(c);
    const resolved = c.status === 'resolved';
    state.log = h('ol', { class: 'messages', 'aria-label': 'Messages', 'aria-live': 'polite' });
    state.typing = h('p', { class: 'typing', 'aria-live': 'polite' });
    state.error = h('p', { class: 'error', role: 'alert' });
    const replyHint = resolved ? 'Replying reopens the conversation' : 'Write a reply… (Enter sends, Shift+Enter for a new line)';
    const input = state.input = h('textarea', { id: 'reply', name: 'reply', rows: 3,
      placeholder: replyHint,
      onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); } },
      oninput: () => this.sendTyping(true) });
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
    // "Note": an internal note, for agents only; the visitor never sees it.
    const showNoteMode = () => {
      form.classList.toggle('note', Boolean(state.writingNote));
      send.textContent = state.writingNote ? 'Add note' : 'Send';
      input.placeholder = state.writingNote ? 'Write an internal note… (only agents see it)' : replyHint;
    };
    const noteToggle = h('input', { type: 'checkbox', id: 'reply-note', name: 'note',
      checked: Boolean(state.writingNote),
      onchange: () => {
        state.writingNote = noteToggle.checked;
        if (state.writingNote) this.sendTyping(false);
        showNoteMode();
      } });
    // The files being attached survive a re-render (a status change, earlier messages).
    const files = state.files ||= Files.tray({ idPrefix: 'reply', prepare: (body) => api('artifacts.prepare', body) });
    const form = h('form', { class: 'reply', onsubmit: (e) => { e.preventDefault(); this.reply(send); } },
      h('label', { for: 'reply', class: 'visually-hidden' }, 'Reply'), input, files.input, files.button,
      h('label', { class: 'note-toggle', for: 'reply-note' }, noteToggle, ' Note'), send);
    showNoteMode();
    state.assignment = h('div', { class: 'assignment', role: 'group', 'aria-label': 'Assignment' });
    state.tagsEl = h('div', { class: 'conversation-tags', role: 'group', 'aria-label': 'Tags' });
    mount(this.pane,
      h('header', { class: 'conversation-header' },
        h('h2', {}, visitor ? visitor.display_name : 'Conversation', ' ',
          h('small', {}, c.display_id)),
        h('span', { class: `status ${c.status}` }, resolved ? 'Resolved' : 'Open'),
        h('button', { type: 'button', class: resolved ? '' : 'primary',
          onclick: (e) => this.setStatus(resolved ? 'open' : 'resolved', e.target) },
          resolved ? 'Reopen' : 'Resolve')),
      state.assignment, state.tagsEl,
      state.cursor ? h('button', { type: 'button', class: 'link more', onclick: () => this.loadEarlier() }, 'Load earlier messages') : null,
      state.log, state.typing, state.error, files.note, files.list, form);
    files.watch(input);
    this.renderAssignment();
    this.renderTags();
    this.renderMessages(true);
  }

  /** The conversation's tags as chips (each with its value and a remove
   * button) and a picker to add one: a tag with allowed values asks which. */
  renderTags() {
    const state = this.selected;
    const on = state.conversation.tags || [];
    const onIds = new Set(on.map((t) => t.tag.id));
    const choices = this.tags.filter((t) => !onIds.has(t.id));
    const value = h('select', { id: 'tag-value', name: 'tag-value', hidden: true });
    const valueLabel = h('label', { for: 'tag-value', class: 'visually-hidden', hidden: true }, 'Value');
    const picker = h('select', { id: 'tag-pick', name: 'tag', onchange: () => {
      const tag = this.tags.find((t) => t.id === picker.value);
      const values = tag ? tag.allowed_values : [];
      mount(value, values.map((v) => h('option', { value: v }, v)));
      value.hidden = valueLabel.hidden = values.length === 0;
    } }, h('option', { value: '' }, 'Add a tag…'), choices.map((t) => h('option', { value: t.id }, t.name)));
    mount(state.tagsEl,
      h('ul', { class: 'tag-chips', 'aria-label': 'Tags on this conversation' },
        on.length ? on.map((t) => h('li', { class: 'tag-chip', dataset: { tag: t.tag.display_id || t.tag.id } },
          h('span', {}, t.tag.name, t.value ? [': ', h('strong', {}, t.value)] : null),
          h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove tag ${t.tag.name}`,
            onclick: (e) => this.changeTags({ remove: [{ id: t.tag.id }] }, e.currentTarget) }, '×')))
          : h('li', { class: 'empty' }, 'No tags')),
      choices.length ? h('form', { class: 'add-tag', onsubmit: (e) => {
        e.preventDefault();
        if (!picker.value) return;
        const tag = { id: picker.value, ...(value.hidden ? {} : { value: value.value }) };
        this.changeTags({ add: [tag] }, e.submitter);
      } },
      h('label', { for: 'tag-pick', class: 'visually-hidden' }, 'Tag'), picker, valueLabel, value,
      h('button', { type: 'submit' }, 'Add tag')) : null);
  }

  async changeTags(change, button) {
    const state = this.selected;
    if (button) button.disabled = true;
    state.error.textContent = '';
    try {
      const { conversation } = await api('conversations.update', { id: state.id, tags: change });
      if (this.selected !== state) return;
      state.conversation = { ...state.conversation, tags: conversation.tags };
      this.renderTags();
      if (this.tagFilter) this.scheduleRefresh();
    } catch (e) {
      state.error.textContent = describeError(e);
      if (button) button.disabled = false;
    }
  }

  /** Another agent's change to the open conversation (its tags, say): the
   * event says that it changed, conversations.get what it is now. */
  async refreshConversation() {
    const state = this.selected;
    let conversation;
    try {
      conversation = (await api('conversations.get', { id: state.id })).conversation;
    } catch (e) {
      return; // deleted meanwhile: that event has its own handling
    }
    if (this.selected !== state) return;
    const same = JSON.stringify(conversation.tags || []) === JSON.stringify(state.conversation.tags || []);
    state.conversation = { ...state.conversation, tags: conversation.tags };
    if (!same) this.renderTags();
  }

  /** Who owns it, and the controls to change that; re-rendered alone, so
   * an assignment never touches a reply being typed. */
  renderAssignment() {
    const state = this.selected;
    const owners = state.conversation.owned_by || [];
    const me = this.ctx.agent.id;
    const mine = owners.some((o) => o.id === me);
    const others = this.agents.filter((a) => a.id !== me);
    const active = document.activeElement;
    const focused = state.focusControl
      || (active && state.assignment.contains(active) ? active.dataset.control : null);
    state.focusControl = null;
    const picker = h('select', { id: 'assignee', name: 'assignee', dataset: { control: 'picker' } },
      h('option', { value: '' }, 'Choose an agent…'),
      others.map((a) => h('option', { value: a.id }, a.display_name)));
    mount(state.assignment,
      h('span', { class: 'owners' }, owners.length ? `Assigned to ${this.ownersText(owners)}` : 'Unassigned'),
      mine ? null : h('button', { type: 'button', dataset: { control: 'me' },
        onclick: (e) => this.assign([me], e.target) }, 'Assign to me'),
      others.length ? h('form', { class: 'assign-other', onsubmit: (e) => {
        e.preventDefault();
        if (picker.value) this.assign([picker.value], e.submitter);
      } },
        h('label', { for: 'assignee', class: 'visually-hidden' }, 'Assign to'), picker,
        h('button', { type: 'submit', dataset: { control: 'assign' } }, 'Assign')) : null,
      owners.length ? h('button', { type: 'button', class: 'link', dataset: { control: 'unassign' },
        onclick: (e) => this.assign([], e.target) }, 'Unassign') : null);
    // A re-render (ours or another agent's change) keeps keyboard focus in
    // the group: on the same control if it is still there, else the first.
    if (focused) {
      const again = state.assignment.querySelector(`[data-control="${focused}"]`)
        || state.assignment.querySelector('button, select');
      if (again) again.focus();
    }
  }

  async assign(owners, button) {
    const state = this.selected;
    // The re-render puts the keyboard back where it was (a disabled button
    // may lose focus meanwhile).
    if (button) {
      state.focusControl = button.dataset.control || null;
      button.disabled = true;
    }
    state.error.textContent = '';
    try {
      const { conversation } = await api('conversations.update', { id: state.id, owned_by: { set: owners } });
      if (this.selected !== state) return;
      state.conversation = { ...state.conversation, owned_by: conversation.owned_by };
      this.renderAssignment();
      this.updateOwners(conversation.id, conversation.owned_by);
      this.scheduleRefresh();
    } catch (e) {
      state.error.textContent = describeError(e);
      if (button) button.disabled = false;
    }
  }

  /** A conversation's new owners, in the rows already shown. */
  updateOwners(conversationId, owners) {
    const c = [...this.conversations.open, ...this.conversations.resolved].find((x) => x.id === conversationId);
    if (c) {
      c.owned_by = owners;
      this.renderList();
    }
  }

  renderMessages(scroll) {
    const state = this.selected;
    const ordered = [...state.messages.values()].sort((a, b) => a.seq - b.seq);
    const lastAgentSeq = Math.max(0, ...ordered.filter((m) => m.fromAgent && !m.note).map((m) => m.seq));
    mount(state.log, ordered.map((m) => h('li', {
      class: `message ${m.fromAgent ? 'from-agent' : 'from-visitor'}${m.note ? ' note' : ''}`, dataset: { seq: String(m.seq) } },
      h('div', { class: 'meta' }, m.note ? h('span', { class: 'note-label' }, 'Internal note · ') : null,
        h('span', { class: 'author' }, m.author), ' ',
        h('time', { datetime: m.created }, formatDate(m.created))),
      m.body ? h('div', { class: 'body' }, m.body) : null,
      Files.shown(m.artifacts, this.fileCalls(state)),
      m.fromAgent && m.seq === lastAgentSeq && state.visitorReadSeq >= m.seq
        ? h('div', { class: 'receipt' }, 'Seen') : null)));
    if (scroll) state.log.scrollTop = state.log.scrollHeight;
  }

  async loadEarlier() {
    const state = this.selected;
    try {
      const page = await api('timeline-entries.list', { object: state.id, limit: PAGE, cursor: state.cursor });
      for (const entry of page.timeline_entries) state.messages.set(entry.seq, fromEntry(entry));
      state.cursor = page.next_cursor;
      this.renderConversation();
    } catch (e) {
      state.error.textContent = describeError(e);
    }
  }

  async reply(button) {
    const state = this.selected;
    const body = state.input.value;
    const files = state.files;
    if (!body.trim() && !files.count()) return;
    button.disabled = true;
    state.error.textContent = '';
    try {
      // Files still uploading are waited for; one that failed stays to retry.
      if (!(await files.ready())) {
        files.say('Retry or remove the files that did not upload, then send.');
        return;
      }
      const ids = files.ids();
      if (!body.trim() && !ids.length) return;
      const { timeline_entry: entry } = await api('timeline-entries.create', {
        object: state.id, ...(body.trim() ? { body } : {}), ...(ids.length ? { artifacts: ids } : {}),
        ...(state.writingNote ? { visibility: 'internal' } : {}) });
      if (this.selected === state) {
        state.messages.set(entry.seq, fromEntry(entry));
        state.input.value = '';
        files.sent(ids);
        this.sendTyping(false);
        this.renderMessages(true);
        this.markRead();
      }
    } catch (e) {
      state.error.textContent = describeError(e); // the text stays in the box
    } finally {
      button.disabled = false;
      state.input.focus();
    }
  }

  async setStatus(status, button) {
    const state = this.selected;
    button.disabled = true;
    try {
      state.conversation = (await api('conversations.update', { id: state.id, status })).conversation;
      this.renderConversation();
      this.scheduleRefresh();
    } catch (e) {
      state.error.textContent = describeError(e);
      button.disabled = false;
    }
  }

  async markRead() {
    const state = this.selected;
    if (!state || !state.id || document.hidden) return;
    try {
      await api('conversations.mark-read', { id: state.id });
    } catch (e) {
      return; // only the unread badge is affected; the next refresh retries
    }
    const c = this.findConversation(state.key);
    if (c && c.unread_count) {
      c.unread_count = 0;
      this.renderList();
    }
  }

  fileCalls(state) {
    return {
      locate: (id) => api('artifacts.locate', { id }),
      say: (text) => { if (state.files) state.files.say(text); else state.error.textContent = text; },
      // Fresh URLs for a file among the latest messages (an older one's stay as they were).
      refresh: async (id) => (await api('timeline-entries.list', { object: state.id, limit: PAGE }))
        .timeline_entries.flatMap((e) => e.artifacts || []).find((a) => a.id === id),
    };
  }

  sendTyping(typing) {
    const state = this.selected;
    // Writing a note is nothing the visitor is told of.
    if (typing && state.writingNote) return;
    const now = Date.now();
    if (typing && now - state.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    state.lastTypingSent = typing ? now : 0;
    this.socket.send({ type: 'typing', conversation: state.id, typing });
  }

  // --- live events ----------------------------------------------------------------------

  onEvent(topic, event) {
    if (topic === 'inbox') {
      this.onInboxEvent(event);
      this.scheduleRefresh();
      return;
    }
    const state = this.selected;
    if (!state || (topic !== `conversation:${state.key}` && topic !== `notes:${state.key}`)) return;
    if (event.type === 'message.created') {
      state.messages.set(event.seq, fromEvent(event.message));
      if (!event.message.from_agent) state.typing.textContent = '';
      this.renderMessages(true);
      this.markRead();
    } else if (event.type === 'message.updated' && event.message) {
      // An edit (timeline-entries.update): the entry keeps its place.
      if (state.messages.has(event.message.seq)) {
        state.messages.set(event.message.seq, fromEvent(event.message));
        this.renderMessages(false);
      }
    } else if (event.type === 'message.deleted') {
      for (const [seq, m] of state.messages) if (m.id === event.id) state.messages.delete(seq);
      this.renderMessages(false);
    } else if (event.type === 'typing' && event.author && event.author.type === 'rev_user') {
      clearTimeout(state.typingTimer);
      state.typing.textContent = event.typing ? `${event.author.display_name} is typing…` : '';
      if (event.typing) state.typingTimer = setTimeout(() => { state.typing.textContent = ''; }, TYPING_SHOWN_MS);
    } else if (event.type === 'conversation.read' && event.reader && event.reader.type === 'rev_user') {
      state.visitorReadSeq = Math.max(state.visitorReadSeq, event.read_seq);
      this.renderMessages(false);
    } else if (event.type === 'conversation.updated') {
      if (state.conversation.status !== event.status) {
        state.conversation = { ...state.conversation, status: event.status };
        this.renderConversation();
      }
      this.refreshConversation();
    }
  }

  onInboxEvent(event) {
    const key = event.topic ? event.topic.split(':')[1] : null;
    const state = this.selected;
    const here = state && state.key === key;
    if (event.type === 'conversation.deleted' && here) {
      // Deleted by another agent (conversations.delete): nothing more to do here.
      state.messages.clear();
      this.renderMessages(false);
      if (state.error) state.error.textContent = 'This conversation was deleted.';
    } else if (event.type === 'conversation.updated' && event.owned_by) {
      // Another agent's assignment shows at once, before the lists reload.
      this.updateOwners(event.conversation, event.owned_by);
      const ids = (owners) => (owners || []).map((o) => o.id).join(' ');
      if (here && state.conversation && ids(state.conversation.owned_by) !== ids(event.owned_by)) {
        state.conversation = { ...state.conversation, owned_by: event.owned_by };
        this.renderAssignment();
      }
    } else if (event.type === 'conversation.activity' && event.message && !event.message.from_agent) {
      const m = event.message;
      this.notifier.visitorMessage({
        key, conversationId: event.conversation,
        author: (m.author && m.author.display_name) || 'A visitor',
        body: m.body || filesText(m.artifacts), isNew: m.seq === 1, looking: here,
      });
    }
  }

  // --- the visitor's profile ------------------------------------------------------------

  async loadProfile(conversation) {
    const visitor = visitorOf(conversation);
    if (!visitor) {
      mount(this.profile, h('p', { class: 'empty' }, 'No visitor in this conversation.'));
      return;
    }
    let user;
    try {
      user = (await api('rev-users.get', { id: visitor.id })).rev_user;
    } catch (e) {
      mount(this.profile, h('p', { class: 'error', role: 'alert' }, describeError(e)));
      return;
    }
    const [workspace, account, activity] = await Promise.all([
      user.rev_org ? api('rev-orgs.get', { id: user.rev_org.id }).then((r) => r.rev_org, () => null) : null,
      user.account ? api('accounts.get', { id: user.account.id }).then((r) => r.account, () => null) : null,
      api('visitor-activity.get', { id: user.id }).then((r) => r.activity, () => null),
    ]);
    if (!this.selected || this.selected.id !== conversation.id) return;
    mount(this.profile,
      h('h2', {}, user.display_name),
      h('p', { class: `identity ${user.is_verified ? 'verified' : 'anonymous'}` },
        user.is_verified ? 'Identified by your website'
          : user.external_ref ? 'Named by your web page without a session token (not verified)'
            : 'Anonymous visitor (not verified)'),
      facts([
        ['Email', user.email], ['Phone', (user.phone_numbers || []).join(', ')],
        ['External ref', user.external_ref], ['Description', user.description],
        ['User id', user.display_id], ['First seen', formatMoment(user.created_date)],
        ...customFields(user.custom_fields),
      ]),
      workspace ? [h('h3', {}, 'Workspace'), facts([
        ['Name', workspace.display_name], ['External ref', workspace.external_ref],
        ['Domain', workspace.domain], ['Tier', workspace.tier], ['Phone', (workspace.phone_numbers || []).join(', ')],
        ['Description', workspace.description], ...customFields(workspace.custom_fields),
      ])] : null,
      account ? [h('h3', {}, 'Account'), facts([
        ['Name', account.display_name], ['External refs', (account.external_refs || []).join(', ')],
        ['Domains', (account.domains || []).join(', ')], ['Websites', (account.websites || []).join(', ')],
        ['Tier', account.tier], ['Description', account.description], ...customFields(account.custom_fields),
      ])] : null,
      activity ? activityView(activity) : null);
  }
}

/** What the site told about the visit: plugSDK.addSessionProperties,
 * trackEvent and the page the visitor is on. Values are shown as text only. */
function activityView(a) {
  const props = Object.entries(a.session_properties || {});
  return h('section', { class: 'activity', 'aria-label': 'Visit' },
    h('h3', {}, 'Visit'),
    facts([['Current page', a.current_page], ['Last seen', a.last_seen_date && formatMoment(a.last_seen_date)]]),
    h('h3', {}, 'Session properties'),
    props.length ? facts(props) : h('p', { class: 'empty' }, 'None sent.'),
    h('h3', {}, 'Recent events'),
    a.events.length
      ? h('ol', { class: 'events' }, a.events.map((e) => h('li', {},
        h('span', { class: 'event-name' }, e.name), ' ',
        h('time', { datetime: e.created_date }, formatDate(e.created_date)),
        Object.keys(e.properties).length
          ? h('span', { class: 'event-props' }, Object.entries(e.properties).map(([k, v]) => `${k}: ${v}`).join(', '))
          : null)))
      : h('p', { class: 'empty' }, 'None tracked.'));
}

function customFields(fields) {
  return Object.entries(fields || {}).map(([name, value]) =>
    [name.replace(/^tnt__/, ''), Array.isArray(value) ? value.join(', ') : value]);
}

/** A definition list of the facts that have a value. */
function facts(rows) {
  const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (shown.length === 0) return h('p', { class: 'empty' }, 'Nothing else is known.');
  return h('dl', { class: 'facts' }, shown.map(([k, v]) => [h('dt', {}, k),
    typeof v === 'boolean' ? h('dd', {}, v ? 'yes' : 'no') : factValue(k, String(v))]));
}

// Words wrap between words (an email at its hyphen or dot, if need be).
// One unbroken run too long for the column (an external ref, a token-like
// id) is cut with an ellipsis, its full value in the tooltip and a Copy button.
const LONG_RUN = /\S{28,}/;
function factValue(name, text) {
  if (!LONG_RUN.test(text)) return h('dd', {}, text);
  const value = h('span', { class: 'long-value', title: text }, text);
  const note = h('span', { class: 'copy-note', role: 'status' });
  return h('dd', { class: 'long' }, value,
    h('button', { type: 'button', class: 'copy-small', 'aria-label': `Copy ${name}`, onclick: async () => {
      try {
        if (!window.isSecureContext || !navigator.clipboard) throw new Error('no clipboard');
        await navigator.clipboard.writeText(text);
        note.textContent = 'Copied.';
      } catch {
        getSelection().selectAllChildren(value);
        note.textContent = 'Selected: press Ctrl+C to copy.';
      }
    } }, 'Copy'), note);
}

function profilePlaceholder() {
  return [h('h2', {}, 'Visitor profile'),
    h('p', { class: 'empty' }, 'Open a conversation to see who you are talking to: their name and email, '
      + 'whether your website identified them, the page they are on and what your site told about the visit.')];
}
