/* openplug chat frame. Runs inside the iframe plug.js injects; talks to the
 * host page only by postMessage, to the server only with fetch on its own
 * origin (/widget/...) and the /widget/socket WebSocket. User data is only
 * ever put in the page with textContent. */
(() => {
  'use strict';
  const cfg = JSON.parse(document.getElementById('plug-config').textContent);
  const APP = cfg.app_id;
  const ANON_KEY = `openplug:anon:${APP}`;
  const REFRESH_BEFORE_S = 60;
  // Socket close codes (openplug.realtime.socket_session): the token stopped
  // working while the socket was open, revoked (logout elsewhere, sessions
  // revoked, user merged or deleted) or expired. Like an HTTP 401.
  const CLOSE_REVOKED = 4410;
  const CLOSE_EXPIRED = 4440;

  const st = {
    parentOrigin: null, // set by the first valid init message
    token: null, // the session token in use
    identified: false,
    expired: false,
    uid: null, // rev user key from the token: the user:<n> topic
    convs: [],
    current: null, // the open conversation, or {id: null} for a new one
    lastSeq: 0,
    open: false,
    unread: -1,
    renewTimer: 0,
    availability: null, // /widget/config's: is the team in, expected reply time
    availabilityTimer: 0,
    mail: null, // the visitor's mail settings, once there is a session to ask with
    pageIdentity: null, // plugSDK.init({identity}): {user_ref, user_traits}, unverified
    pageUrl: null, // the host page the visitor is on
    pending: [], // trackEvent / addSessionProperties waiting for a session (none is made for them)
  };
  const MAX_PENDING = 50;
  const Files = globalThis.openplugFiles;
  const fileCalls = {
    locate: (id) => call('artifacts.locate', { id }),
    say: (text) => ui.files.say(text),
  };

  // --- talking to the host page ------------------------------------------------

  const toParent = (msg) => {
    if (st.parentOrigin) parent.postMessage({ plug: 1, ...msg }, st.parentOrigin);
  };

  function onParentMessage(ev) {
    // Only the page that embeds us, and only from an origin the app allows
    // (frame-ancestors already stops other sites; this is the second lock).
    if (ev.source !== parent || !cfg.allowed_origins.includes(ev.origin)) return;
    const m = ev.data;
    if (!m || m.plug !== 1) return;
    if (m.type === 'init') {
      if (st.parentOrigin) return;
      st.parentOrigin = ev.origin;
      setTheme(m.theme);
      for (const [name, value] of [['--accent', m.accent_color], ['--accent-fg', m.primary_text_color]]) {
        if (typeof value === 'string' && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value)) {
          document.documentElement.style.setProperty(name, value);
        }
      }
      st.pageUrl = typeof m.page_url === 'string' ? m.page_url : null;
      const id = m.identity;
      if (!m.session_token && id && typeof id === 'object' && typeof id.user_ref === 'string' && id.user_ref) {
        st.pageIdentity = { user_ref: id.user_ref, user_traits: id.user_traits && typeof id.user_traits === 'object' ? id.user_traits : undefined };
      }
      start(m.session_token);
      return;
    }
    if (ev.origin !== st.parentOrigin) return;
    if (m.type === 'open') onOpen();
    else if (m.type === 'close') st.open = false;
    else if (m.type === 'token') onNewToken(m.token);
    else if (m.type === 'shutdown') shutdown();
    else if (m.type === 'call') sdkCall(m.name, Array.isArray(m.args) ? m.args : [], m.page_url);
  }

  // --- plugSDK's calls that plug.js hands over, checked here --------------------
  // A misuse is an ON_PLUG_ERROR in the host page (`invalid_option`, naming
  // the field), never an exception there.

  const problem = (field, error) => toParent({ type: 'error', code: 'invalid_option', field, error });
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const THEMES = ['light', 'dark', 'system'];
  let theme = 'light';
  function setTheme(t) {
    if (t !== undefined && !THEMES.includes(t)) problem('theme', "theme must be 'light' or 'dark'");
    else theme = t || 'light';
    document.documentElement.dataset.theme = theme;
  }

  function sdkCall(name, args, pageUrl) {
    const [a, b] = args;
    if (name === 'view') {
      if (a === 'create_conversation') startNew(b);
      else problem('view', "toggleWidget's view is 'create_conversation'");
    } else if (name === 'toggleTheme') {
      setTheme(a === undefined ? (theme === 'dark' ? 'light' : 'dark') : a);
    } else if (name === 'updateIdentity') {
      if (isObject(a) && isObject(a.user_traits)) updateIdentity(a.user_traits);
      else problem('user_traits', 'updateIdentity takes {user_traits: {...}}');
    } else if (name === 'trackEvent') {
      if (typeof a !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(a)) problem('event_name', 'trackEvent: the event name is 1 to 64 letters, digits, _ or -');
      else if (b !== undefined && !isObject(b)) problem('properties', 'trackEvent: properties must be an object');
      else record('events.track', { event_name: a, properties: b || {}, page_url: pageUrl });
    } else if (name === 'addSessionProperties') {
      if (isObject(a)) record('visit-properties.add', { properties: a, page_url: pageUrl });
      else problem('properties', 'addSessionProperties takes an object of key-value pairs');
    }
  }

  // --- what the site tells about its visitor (plugSDK.trackEvent, addSessionProperties) ---
  // Recorded for the visitor there is; with none yet, kept until the visitor
  // interacts (a page view alone creates nobody).

  function record(path, body) {
    if (!st.token) {
      if (st.pending.length < MAX_PENDING) st.pending.push([path, body]);
      return;
    }
    call(path, body).catch((e) => {
      if (e.status === 400) problem(e.body && e.body.field_name, String(e.message));
      else reportError(e);
    });
  }

  function flushPending() {
    if (st.pageUrl) st.pending.unshift(['visit-properties.add', { properties: {}, page_url: st.pageUrl }]);
    st.pageUrl = null; // reported once per page
    for (const [path, body] of st.pending.splice(0)) record(path, body);
  }

  async function updateIdentity(traits) {
    if (!st.pageIdentity) return problem('identity', 'updateIdentity changes a visitor identified with the identity option of init');
    try {
      await call('identity.update', { user_traits: traits });
      // A renewed session sends the traits again: the latest, not the first.
      st.pageIdentity.user_traits = { ...(st.pageIdentity.user_traits || {}), ...traits };
    } catch (e) {
      if (e.status === 400) problem(e.body && e.body.field_name, String(e.message));
      else reportError(e);
    }
  }

  // --- the server ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, body, token = st.token, more = {}) {
    const headers = { 'Content-Type': 'application/json', ...more };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(`/widget/${path}`, {
      method: 'POST', headers, credentials: 'omit', cache: 'no-store',
      body: JSON.stringify({ app_id: APP, ...body }),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  const anonCredential = () => {
    try { return localStorage.getItem(ANON_KEY); } catch { return null; }
  };
  const setAnonCredential = (v) => {
    try { v ? localStorage.setItem(ANON_KEY, v) : localStorage.removeItem(ANON_KEY); } catch { /* storage blocked */ }
  };

  function claims(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(atob(part));
    } catch { return {}; }
  }

  function useToken(token) {
    st.token = token;
    const c = claims(token);
    st.uid = Number.isInteger(c.uid) ? c.uid : null;
    clearTimeout(st.renewTimer);
    if (typeof c.exp === 'number') {
      const ms = Math.max((c.exp - REFRESH_BEFORE_S) * 1000 - Date.now(), 1000);
      // Identified: ask the host's session_token_provider; anonymous: our credential.
      st.renewTimer = setTimeout(() => {
        if (st.identified) toParent({ type: 'token_expiring' });
        else visitorSession().catch(() => {});
      }, Math.min(ms, 2 ** 31 - 1));
    }
    transport.restart();
    flushPending();
  }

  // The anonymous visitor is created on first interaction only; a browser
  // that already has a credential gets a fresh token for the same visitor.
  async function anonymousSession() {
    const credential = anonCredential();
    let s;
    try {
      s = await api('session', credential ? { anonymous_credential: credential } : {}, null);
    } catch (e) {
      if (!credential || e.status !== 401) throw e;
      setAnonCredential(null); // the server no longer knows it: become a new visitor
      s = await api('session', {}, null);
    }
    if (s.anonymous_credential) setAnonCredential(s.anonymous_credential);
    showWho(s.user.display_name);
    useToken(s.session_token);
  }

  // A visitor the page named (the identity option): no credential to keep,
  // the same user_ref always gives the same, unverified, user.
  async function pageIdentitySession() {
    const s = await api('identify', st.pageIdentity, null);
    showWho(s.user.display_name);
    useToken(s.session_token);
  }

  const visitorSession = () => (st.pageIdentity ? pageIdentitySession() : anonymousSession());

  async function ensureSession() {
    if (st.token) return;
    if (st.identified || st.expired) throw new ApiError(401, { message: 'session expired' });
    await visitorSession();
  }

  function sessionExpired(reason) {
    if (st.expired) return;
    st.expired = true;
    st.token = null;
    transport.stop();
    setStatus('Your session has expired. Please sign in again.');
    toParent({ type: 'session_expired', reason });
    toParent({ type: 'error', error: `session_expired: ${reason}` });
  }

  // An authenticated call; a refused identified token is never replaced by
  // an anonymous one, an anonymous token is renewed once with the credential.
  async function call(path, body, more = {}) {
    await ensureSession();
    try {
      return await api(path, body, st.token, more);
    } catch (e) {
      if (e.status !== 401) throw e;
      if (st.identified) { sessionExpired(e.message); throw e; }
      st.token = null;
      await visitorSession();
      return api(path, body, st.token, more);
    }
  }

  // A write sent again when its answer was lost (the network, a restarting
  // server, a proxy's 502/503/504), with the same Idempotency-Key: the
  // server stores it at most once and answers the retry with the first answer.
  function idempotencyKey() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  async function write(path, body) {
    const more = { 'Idempotency-Key': idempotencyKey() };
    for (let attempt = 0; ; attempt++) {
      try {
        return await call(path, body, more);
      } catch (e) {
        const lost = !(e instanceof ApiError) || [500, 502, 503, 504].includes(e.status);
        if (!lost || attempt >= 3) throw e;
        await new Promise((done) => setTimeout(done, 500 * 2 ** attempt));
      }
    }
  }

  async function start(sessionToken) {
    buildUi();
    loadAvailability();
    if (sessionToken) {
      st.identified = true;
      useToken(sessionToken);
      try {
        await refreshList();
        await mergeAnonymous();
        await loadMail();
      } catch (e) {
        if (e.status !== 401) reportError(e);
      }
    } else if (st.pageIdentity) {
      // Named by the page: its conversations and unread count show at once.
      await pageIdentitySession().then(refreshList).then(loadMail).catch(reportError);
    } else if (cfg.require_identification) {
      setStatus('Please sign in to chat with us.');
      ui.newButton.disabled = true;
    } else if (anonCredential()) {
      await anonymousSession().then(refreshList).then(loadMail).catch(reportError);
    }
    toParent({ type: 'ready' });
  }

  async function mergeAnonymous() {
    const credential = anonCredential();
    if (!credential) return;
    try {
      await api('merge', { anonymous_credential: credential });
    } catch (e) {
      if (e.status === 401) throw e;
      // 409/404: already merged elsewhere or unknown; nothing more to move.
    }
    setAnonCredential(null);
    await refreshList();
  }

  async function onNewToken(token) {
    if (!token) return;
    st.identified = true;
    st.expired = false;
    setStatus('');
    useToken(token);
    try {
      await refreshList();
      await mergeAnonymous();
      await loadMail();
    } catch (e) { reportError(e); }
  }

  async function shutdown() {
    const token = st.token;
    transport.stop();
    st.token = null;
    st.expired = true;
    setAnonCredential(null);
    if (token) await api('logout', {}, token).catch(() => {});
    toParent({ type: 'shutdown_done' });
  }

  // The server closed the socket because its token stopped working. An
  // identified visitor's session has expired (the host page is asked for a
  // new token; never a fallback to anonymous). An anonymous visitor renews
  // an expired token with the kept credential; after a revocation (merged
  // into a user, logged out) nothing starts until the visitor interacts
  // again, so that no visitor is ever created by a socket closing.
  function tokenEnded(code, reason) {
    if (!st.token) return;
    if (st.identified) return sessionExpired(reason || 'session ended');
    st.token = null;
    if (code === CLOSE_EXPIRED && st.pageIdentity) pageIdentitySession().catch(reportError);
    else if (code === CLOSE_EXPIRED && anonCredential()) anonymousSession().catch(reportError);
  }

  function reportError(e) {
    if (st.identified && e.status === 401) return sessionExpired(e.message);
    setStatus('Something went wrong. Please try again.');
    toParent({ type: 'error', error: String(e.message || e) });
  }

  // --- live updates: a small, replaceable transport ---------------------------------
  // Resubscribes after every reconnect with the last seq seen, so the server
  // replays exactly what was missed.

  const transport = {
    ws: null, ready: false, retries: 0, timer: 0, topics: new Set(),
    start() {
      if (this.ws || !st.token || !('WebSocket' in window)) return;
      const url = new URL('/widget/socket', location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = this.ws = new WebSocket(url);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token: st.token, app_id: APP }));
      ws.onmessage = (e) => { try { this.frame(JSON.parse(e.data)); } catch { /* bad frame */ } };
      ws.onclose = (e) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.ready = false;
        if (e.code === CLOSE_REVOKED || e.code === CLOSE_EXPIRED) return tokenEnded(e.code, e.reason);
        if (e.code === 4401 || !st.token) return; // the HTTP calls will notice the token
        this.timer = setTimeout(() => this.start(), Math.min(30000, 500 * 2 ** this.retries++));
      };
    },
    stop() {
      clearTimeout(this.timer);
      const ws = this.ws;
      this.ws = null;
      this.ready = false;
      if (ws) ws.close(1000);
    },
    restart() { this.stop(); this.start(); },
    send(f) { if (this.ws && this.ready) this.ws.send(JSON.stringify(f)); },
    subscribe(topic) {
      this.topics.add(topic);
      this.send(subscription(topic));
    },
    unsubscribe(topic) {
      if (this.topics.delete(topic)) this.send({ type: 'unsubscribe', topic });
    },
    frame(f) {
      if (f.type === 'ready') {
        this.ready = true;
        this.retries = 0;
        if (st.uid !== null) this.topics.add(`user:${st.uid}`);
        for (const t of this.topics) this.send(subscription(t));
      } else if (f.type === 'ping') this.send({ type: 'pong' });
      else if (f.type === 'event') onLiveEvent(f.topic, f.event);
      else if (f.type === 'error' && f.code === 'resume_gap_too_large') catchUp();
    },
  };

  const topicOf = (conv) => `conversation:${String(conv.display_id).replace(/^CONV-/, '')}`;

  function subscription(topic) {
    const f = { type: 'subscribe', topic };
    if (st.current && st.current.id && topic === topicOf(st.current)) f.after_seq = st.lastSeq;
    return f;
  }

  let listTimer = 0;
  function onLiveEvent(topic, ev) {
    const here = st.current && st.current.id === ev.conversation;
    if (here && ev.type === 'typing' && ev.author && ev.author.type === 'dev_user') {
      showTyping(ev.typing ? `${ev.author.display_name || 'Support'} is typing\u2026` : '');
    } else if (here && ev.type === 'conversation.read' && ev.reader && ev.reader.type === 'dev_user') {
      showSeen(ev.read_seq);
    }
    if (ev.type === 'conversation.deleted') {
      // Support deleted it (conversations.delete): it is gone from every list.
      st.convs = st.convs.filter((c) => c.id !== ev.conversation);
      if (here) {
        ui.messages.replaceChildren();
        backToList();
      } else renderList();
      postUnread();
      return;
    }
    if (ev.type === 'message.updated' && here && ev.message) {
      editMessage(ev.message);
      stepPast(ev.seq);
    } else if (ev.type === 'message.deleted' && here) {
      removeMessage(ev.id);
      stepPast(ev.seq);
    } else if (ev.type === 'message.created' && here) {
      if (!(ev.message && ev.message.author && ev.message.author.type === 'rev_user')) showTyping('');
      if (ev.seq === st.lastSeq + 1) {
        addMessage(ev.message);
        if (st.open) markRead();
      } else if (ev.seq > st.lastSeq) catchUp();
    } else if (topic.startsWith('user:')) {
      clearTimeout(listTimer); // several events in a burst: one list refresh
      listTimer = setTimeout(() => refreshList().catch(reportError), 50);
    }
  }

  // --- conversations -------------------------------------------------------------

  async function refreshList() {
    const { conversations, user } = await call('conversations.list', { limit: 50 });
    st.convs = conversations;
    if (user && user.display_name) showWho(user.display_name);
    renderList();
    postUnread();
  }

  // The launcher's badge and ON_PLUG_WIDGET_UNREAD_COUNT_CHANGE: replies
  // waiting, not counting the conversation the visitor is reading.
  function postUnread() {
    const unread = st.convs.reduce(
      (n, c) => n + (st.current && c.id === st.current.id && st.open ? 0 : c.unread_count), 0);
    if (unread !== st.unread) {
      st.unread = unread;
      toParent({ type: 'unread', count: unread });
    }
  }

  async function onOpen() {
    st.open = true;
    loadAvailability();
    // The heading is a landmark for screen readers, not a control: focused
    // without a ring (a keyboard user's Tab from there shows the ring).
    if (ui.convView.hidden) ui.listHeading.focus({ focusVisible: false });
    else ui.input.focus();
    if (!st.token && !st.expired && !cfg.require_identification) {
      try { await ensureSession(); await refreshList(); await loadMail(); } catch (e) { reportError(e); }
    } else if (st.current && st.current.id) {
      markRead().catch(reportError);
    }
  }

  function openConversation(conv) {
    if (st.current && st.current.id) transport.unsubscribe(topicOf(st.current));
    st.current = conv;
    showTyping('');
    st.lastSeq = 0;
    ui.messages.replaceChildren();
    ui.files.clear();
    renderExpect();
    ui.convTitle.textContent = conv.id ? titleOf(conv) : 'New conversation';
    ui.listView.hidden = true;
    ui.convView.hidden = false;
    renderMail();
    ui.input.focus();
    if (conv.id) {
      catchUp().then(() => transport.subscribe(topicOf(conv))).catch(reportError);
    }
  }

  // toggleWidget(true, 'create_conversation', {startConversationContent}).
  function startNew(content) {
    openConversation({ id: null });
    if (typeof content === 'string' && content) ui.input.value = content.slice(0, 10000);
  }

  function backToList() {
    if (st.current && st.current.id) transport.unsubscribe(topicOf(st.current));
    st.current = null;
    ui.convView.hidden = true;
    ui.listView.hidden = false;
    ui.listHeading.focus({ focusVisible: false });
    refreshList().catch(reportError);
  }

  // Everything after the last seq shown: the same call a reconnect uses.
  let catching = null;
  function catchUp() {
    catching ||= (async () => {
      const conv = st.current;
      for (let more = true, pages = 0; more && pages < 20 && conv === st.current; pages++) {
        const r = await call('messages.list', { conversation: conv.id, after_seq: st.lastSeq });
        for (const m of r.messages) addMessage(m);
        more = r.has_more;
      }
      if (st.open) await markRead();
    })().finally(() => { catching = null; });
    return catching;
  }

  async function markRead() {
    if (!st.current || !st.current.id || !st.lastSeq) return;
    await call('conversations.mark-read', { conversation: st.current.id, seq: st.lastSeq });
    const c = st.convs.find((x) => x.id === st.current.id);
    if (c) c.unread_count = 0;
    postUnread();
  }

  async function send(text, ids) {
    const conv = st.current;
    const files = ids.length ? { artifacts: ids } : {};
    if (!conv.id) {
      const r = await write('conversations.create', { body: text, ...files });
      Object.assign(conv, r.conversation);
      ui.convTitle.textContent = titleOf(conv);
      for (const m of r.conversation.messages || []) addMessage(m);
      transport.subscribe(topicOf(conv));
      toParent({ type: 'conversation_start', conversation: { id: conv.id, display_id: conv.display_id } });
    } else {
      const r = await write('messages.create', { conversation: conv.id, body: text, ...files });
      if (r.message.seq === st.lastSeq + 1) addMessage(r.message);
      else await catchUp();
    }
  }

  // --- availability and replies by email ------------------------------------------------
  // The server says whether the team is in (office hours are the app's, in
  // its time zone); the page says when it is back in the visitor's own time.

  async function loadAvailability() {
    try {
      st.availability = (await api('config', {}, null)).availability;
    } catch { return; } // the chat works without it
    clearTimeout(st.availabilityTimer);
    const back = st.availability.next_open_at && Date.parse(st.availability.next_open_at);
    if (back) {
      const ms = Math.min(Math.max(back - Date.now(), 0) + 1000, 2 ** 31 - 1);
      st.availabilityTimer = setTimeout(loadAvailability, ms);
    }
    renderAvailability();
    renderMail();
  }

  function backText(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const now = new Date();
    const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    const day = d.toDateString() === now.toDateString() ? 'today'
      : d.toDateString() === tomorrow.toDateString() ? 'tomorrow'
        : d.toLocaleDateString([], d - now > 6 * 864e5
          ? { weekday: 'long', day: 'numeric', month: 'short' } : { weekday: 'long' });
    return ` \u2014 back ${day} ${time} (your time)`;
  }

  const isAway = () => Boolean(st.availability && !st.availability.open);

  function renderAvailability() {
    const a = st.availability;
    ui.away.textContent = isAway() ? `We're away${a.next_open_at ? backText(a.next_open_at) : ''}` : '';
    ui.presence.textContent = a && a.open ? "We're online" : '';
    ui.replyTime.textContent = (a && a.reply_time_text) || '';
    if (ui.expect) renderExpect();
  }

  // Asked only with a session already there: reading settings creates no visitor.
  async function loadMail() {
    if (!st.token) return;
    try {
      st.mail = (await call('mail-settings.get', {})).mail_settings;
    } catch (e) {
      if (e.status !== 401) reportError(e);
      return;
    }
    renderMail();
  }

  function renderMail() {
    if (!ui.mail) return;
    const m = st.mail;
    ui.mail.classList.toggle('prominent', isAway() && !(m && m.address));
    if (m && m.address) {
      ui.mailForm.hidden = true;
      ui.mailOnFile.hidden = false;
      ui.mailAddress.textContent = m.subscribed
        ? `Replies also go to ${m.address}` : `Replies are not emailed to ${m.address}`;
      ui.mailSubscribed.checked = m.subscribed;
      return;
    }
    ui.mailOnFile.hidden = true;
    ui.mailForm.hidden = false;
    ui.mailTitle.textContent = isAway()
      ? "We're away right now. Leave your email and we'll reply there." : 'Get replies by email';
  }

  function mailProblem(text) {
    ui.mailNote.textContent = text;
    ui.mailNote.className = 'mail-note error';
    ui.mailEmail.setAttribute('aria-invalid', 'true');
    ui.mailEmail.focus();
  }

  async function onMailSubmit(e) {
    e.preventDefault();
    const email = ui.mailEmail.value.trim();
    ui.mailEmail.removeAttribute('aria-invalid');
    ui.mailNote.textContent = '';
    if (!email || !ui.mailEmail.checkValidity()) return mailProblem('Please enter an email address like name@example.com.');
    ui.mailSave.disabled = true;
    try {
      st.mail = (await call('mail-settings.update', { email })).mail_settings;
      ui.mailEmail.value = '';
      renderMail();
      ui.mailNote.className = 'mail-note';
      ui.mailNote.textContent = `Saved. We'll email replies to ${st.mail.address}.`;
      ui.mailSubscribed.focus();
    } catch (err) {
      if (err.status === 400) mailProblem((err.body && err.body.message) || 'That address was not accepted.');
      else reportError(err);
    } finally {
      ui.mailSave.disabled = false;
    }
  }

  async function onSubscribedChange() {
    const subscribed = ui.mailSubscribed.checked;
    try {
      st.mail = (await call('mail-settings.update', { subscribed })).mail_settings;
      ui.mailNote.className = 'mail-note';
      ui.mailNote.textContent = subscribed ? 'Replies will be emailed again.' : 'Replies will no longer be emailed.';
    } catch (err) {
      ui.mailSubscribed.checked = !subscribed;
      reportError(err);
    }
    renderMail();
  }

  // --- the page ----------------------------------------------------------------------

  const h = (tag, attrs = {}, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else if (v === true) el.setAttribute(k, '');
      else if (v !== false && v != null) el.setAttribute(k, v);
    }
    el.append(...children);
    return el;
  };

  const ui = {};
  const setStatus = (text) => { if (ui.status) ui.status.textContent = text; };
  // In the visitor's locale and time zone: '14:05' today, the weekday
  // within the week, '2 Dec' before (and the year if not this one).
  const clock = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  function dayOf(d) {
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return '';
    const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
    if (today - d < 6 * 864e5 && d < today) return d.toLocaleDateString([], { weekday: 'short' });
    return d.toLocaleDateString([], d.getFullYear() === now.getFullYear()
      ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' });
  }
  const parse = (iso) => { const d = new Date(iso); return Number.isNaN(d.getTime()) ? null : d; };
  const shortWhen = (iso) => { const d = parse(iso); return d ? dayOf(d) || clock(d) : ''; };
  const fmtTime = (iso) => { const d = parse(iso); return d ? [dayOf(d), clock(d)].filter(Boolean).join(', ') : ''; };

  // A title the team set, else a plain one: the title made from the first
  // message would only repeat the preview.
  function titleOf(c) {
    const t = (c.title || '').replace(/\u2026$/, '').trim();
    const first = (c.preview || (c.last_message && c.last_message.body) || '').replace(/\s+/g, ' ');
    return !t || t === 'Conversation' || first.startsWith(t) ? 'Conversation' : c.title;
  }

  function showWho(name) {
    st.name = name;
    ui.whoami.textContent = `You are chatting as ${name}`;
    renderGreeting();
  }

  // Typing and "Seen" are live hints only, never stored: an agent typing
  // shows for a few seconds unless renewed; "Seen" marks the visitor's
  // latest message an agent has read.
  let typingTimer = 0;
  let typingSentAt = 0;
  function showTyping(text) {
    clearTimeout(typingTimer);
    ui.typing.textContent = text;
    if (text) typingTimer = setTimeout(() => { ui.typing.textContent = ''; }, 6000);
  }

  function sendTyping(typing) {
    if (!st.current || !st.current.id) return;
    const now = Date.now();
    if (typing && now - typingSentAt < 3000) return;
    typingSentAt = typing ? now : 0;
    transport.send({ type: 'typing', conversation: st.current.id, typing });
  }

  function showSeen(readSeq) {
    const mine = [...ui.messages.querySelectorAll('.msg.mine')]
      .filter((li) => Number(li.dataset.seq) <= readSeq);
    ui.messages.querySelectorAll('.seen').forEach((el) => el.remove());
    if (mine.length) mine[mine.length - 1].append(h('span', { class: 'seen', text: 'Seen' }));
  }

  function addMessage(m) {
    if (m.seq <= st.lastSeq) return;
    st.lastSeq = m.seq;
    // A live event is the same for every viewer (no `mine`): the visitor's
    // own message can come by socket before the answer to sending it.
    const mine = m.mine ?? Boolean(m.author && m.author.type === 'rev_user' && st.uid !== null &&
      m.author.display_id === `REVU-${st.uid}`);
    const who = mine ? 'You' : (m.author && m.author.display_name) || 'Support';
    ui.messages.append(h('li', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-seq': m.seq, 'data-id': m.id },
      h('span', { class: 'author', text: who }),
      m.body ? h('p', { class: 'body', text: m.body }) : '',
      Files.shown(m.artifacts, { ...fileCalls, refresh: (id) => freshArtifact(m.seq, id) }) || '',
      h('time', { datetime: m.created_date, text: fmtTime(m.created_date) }),
      m.modified_date ? h('span', { class: 'edited', text: '(edited)' }) : ''));
    renderExpect();
    ui.messages.lastElementChild.scrollIntoView({ block: 'end' });
  }

  // An edit or a deletion is a step of the conversation's stream too: the
  // next message then follows it, and a reconnect resumes after it.
  function stepPast(seq) {
    if (seq === st.lastSeq + 1) st.lastSeq = seq;
  }

  async function freshArtifact(seq, id) {
    const r = await call('messages.list', { conversation: st.current.id, after_seq: seq - 1, limit: 1 });
    return r.messages.flatMap((m) => m.artifacts || []).find((a) => a.id === id);
  }

  // An agent edited or deleted one of their messages (timeline-entries.update
  // / .delete): the shown entry changes in place or goes.
  function messageItem(id) {
    return [...ui.messages.querySelectorAll('li.msg')].find((li) => li.dataset.id === id);
  }

  function editMessage(m) {
    const li = messageItem(m.id);
    if (!li) return;
    let body = li.querySelector('.body');
    if (!body) li.querySelector('.author').after(body = h('p', { class: 'body' }));
    body.textContent = m.body || '';
    if (!li.querySelector('.edited')) li.append(h('span', { class: 'edited', text: '(edited)' }));
  }

  function removeMessage(id) {
    const li = messageItem(id);
    if (li) li.remove();
  }

  function renderList() {
    ui.list.replaceChildren(...st.convs.map((c) => {
      const m = c.last_message;
      const who = m ? (m.mine ? 'You' : (m.author && m.author.display_name) || 'Support') : '';
      const when = c.last_message_date || (m && m.created_date) || c.modified_date;
      return h('li', {},
        h('button', { type: 'button', class: `conv${c.unread_count ? ' unread' : ''}`, onclick: () => openConversation(c) },
          h('span', { class: 'conv-title', text: titleOf(c) }),
          h('time', { class: 'conv-time', datetime: when, text: shortWhen(when) }),
          h('span', { class: 'conv-preview' },
            who ? h('span', { class: 'conv-who', text: `${who}: ` }) : '',
            c.preview || (m && m.artifacts && m.artifacts.length ? m.artifacts.map((a) => a.file.name).join(', ') : '')),
          c.unread_count ? h('span', { class: 'badge', text: String(c.unread_count),
            'aria-label': `${c.unread_count} unread` }) : '',
          c.status === 'resolved' ? h('span', { class: 'resolved', text: 'Resolved' }) : ''));
    }));
    ui.empty.hidden = st.convs.length > 0;
  }

  // "Hi Ana" once the site or the visitor has a name; the team's presence
  // and reply time come from /widget/config.
  function renderGreeting() {
    if (!ui.greeting) return;
    // An anonymous visitor's name is made up ("Azure Gecko"): no "Hi Azure".
    const named = st.identified || st.pageIdentity;
    const first = named && st.name ? st.name.split(' ')[0] : '';
    ui.greeting.textContent = `Hi ${first || 'there'}! How can we help?`;
  }

  // After the visitor wrote and before anyone answered: says that someone will.
  function renderExpect() {
    const all = [...ui.messages.children];
    const waiting = all.length > 0 && all.every((li) => li.classList.contains('mine'));
    const a = st.availability;
    const when = a && a.reply_time_text ? ` ${a.reply_time_text}.` : '';
    ui.expect.textContent = waiting
      ? `Thanks! Someone from the team will answer here.${when}` : '';
  }

  function buildUi() {
    ui.close = h('button', { type: 'button', class: 'icon', 'aria-label': 'Close chat', text: '\u00d7',
      onclick: () => toParent({ type: 'close' }) });
    ui.whoami = h('p', { id: 'plug-whoami', class: 'whoami' });
    ui.listHeading = h('h2', { id: 'plug-list-heading', tabindex: '-1', text: 'Your conversations' });
    ui.newButton = h('button', { type: 'button', id: 'plug-new', class: 'primary', text: 'New conversation',
      onclick: () => openConversation({ id: null }) });
    ui.list = h('ul', { id: 'plug-conversations', class: 'convs', 'aria-labelledby': 'plug-list-heading' });
    ui.empty = h('p', { class: 'empty', text: 'No conversations yet. Ask us anything: we are happy to help.' });
    ui.greeting = h('p', { id: 'plug-greeting', class: 'greeting' });
    renderGreeting();
    ui.listView = h('section', { id: 'plug-list-view', 'aria-labelledby': 'plug-list-heading' },
      ui.greeting, ui.listHeading, ui.newButton, ui.list, ui.empty);
    ui.convTitle = h('h2', { id: 'plug-conv-title' });
    ui.messages = h('ol', { id: 'plug-messages', class: 'messages', role: 'log', 'aria-live': 'polite',
      'aria-labelledby': 'plug-conv-title' });
    ui.input = h('textarea', { id: 'plug-input', rows: '2', maxlength: '10000',
      placeholder: 'Write a message\u2026' });
    ui.files = Files.tray({ idPrefix: 'plug', prepare: (body) => call('artifacts.prepare', body) });
    ui.input.addEventListener('input', () => sendTyping(true));
    ui.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); ui.form.requestSubmit(); }
    });
    ui.send = h('button', { type: 'submit', class: 'primary', text: 'Send' });
    ui.form = h('form', { id: 'plug-form', class: 'composer', onsubmit: onSubmit },
      h('label', { for: 'plug-input', class: 'sr-only', text: 'Message' }), ui.input,
      ui.files.input, ui.files.button, ui.send);
    // "Get replies by email": for a visitor with no address on file (shown
    // prominently while the team is away); otherwise where replies go, and
    // the switch to stop or resume them.
    ui.mailTitle = h('p', { id: 'plug-mail-title', class: 'mail-title' });
    ui.mailEmail = h('input', { id: 'plug-mail-email', type: 'email', autocomplete: 'email',
      inputmode: 'email', maxlength: '254', spellcheck: 'false', placeholder: 'name@example.com',
      'aria-describedby': 'plug-mail-title plug-mail-note' });
    ui.mailSave = h('button', { type: 'submit', class: 'secondary', text: 'Save email' });
    ui.mailForm = h('form', { id: 'plug-mail-form', class: 'mail-form', novalidate: true,
      'aria-labelledby': 'plug-mail-title', onsubmit: onMailSubmit },
    ui.mailTitle,
    h('div', { class: 'mail-row' },
      h('label', { for: 'plug-mail-email', class: 'sr-only', text: 'Email for replies' }),
      ui.mailEmail, ui.mailSave));
    ui.mailAddress = h('span', { id: 'plug-mail-address' });
    ui.mailSubscribed = h('input', { id: 'plug-mail-subscribed', type: 'checkbox',
      'aria-describedby': 'plug-mail-address', onchange: onSubscribedChange });
    ui.mailOnFile = h('div', { class: 'mail-on-file', hidden: true },
      ui.mailAddress,
      h('span', { class: 'mail-toggle' }, ui.mailSubscribed,
        h('label', { for: 'plug-mail-subscribed', text: 'Email me replies' })));
    ui.mailNote = h('p', { id: 'plug-mail-note', class: 'mail-note', role: 'status' });
    ui.mail = h('div', { id: 'plug-mail', class: 'mail' }, ui.mailForm, ui.mailOnFile, ui.mailNote);
    ui.convView = h('section', { id: 'plug-conv-view', 'aria-labelledby': 'plug-conv-title', hidden: true },
      h('div', { class: 'conv-head' },
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Back to conversations', text: '\u2190',
          onclick: backToList }), ui.convTitle),
      ui.messages, ui.typing = h('p', { id: 'plug-typing', class: 'typing', 'aria-live': 'polite' }),
      ui.expect = h('p', { id: 'plug-expect', class: 'expect', role: 'status' }),
      ui.mail, ui.files.note, ui.files.list, ui.form);
    ui.files.watch(ui.input);
    Files.dropOn(ui.convView, (files) => ui.files.add(files));
    ui.status = h('p', { id: 'plug-status', class: 'status', role: 'status', 'aria-live': 'polite' });
    ui.away = h('p', { id: 'plug-away', class: 'away' });
    ui.replyTime = h('p', { id: 'plug-reply-time', class: 'reply-time' });
    ui.presence = h('p', { id: 'plug-presence', class: 'presence' });
    document.body.append(h('div', { id: 'plug-app', class: 'app' },
      h('header', { class: 'bar' },
        h('div', {}, h('h1', { text: 'Support' }), ui.presence, ui.away, ui.replyTime, ui.whoami), ui.close),
      ui.listView, ui.convView, ui.status));
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') toParent({ type: 'close' });
    });
  }

  async function onSubmit(e) {
    e.preventDefault();
    const text = ui.input.value;
    if (!text.trim() && !ui.files.count()) return;
    ui.send.disabled = true;
    try {
      // Files still uploading are waited for; one that failed stays to retry.
      if (!(await ui.files.ready())) return ui.files.say('Retry or remove the files that did not upload, then send.');
      const ids = ui.files.ids();
      if (!text.trim() && !ids.length) return;
      await send(text.trim() ? text : undefined, ids);
      sendTyping(false);
      ui.input.value = '';
      ui.files.sent(ids);
      setStatus('');
    } catch (err) {
      reportError(err);
    } finally {
      ui.send.disabled = false;
      ui.input.focus();
    }
  }

  // --- boot ------------------------------------------------------------------------

  if (parent === window) {
    document.body.append(h('p', { text: 'This page is the support chat of a website; it only runs inside it.' }));
    return;
  }
  addEventListener('message', onParentMessage);
  // Carries nothing: only asks the embedding page (plug.js) for the init message.
  parent.postMessage({ plug: 1, type: 'hello' }, '*');
})();
