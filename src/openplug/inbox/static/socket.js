// The inbox's one WebSocket (/inbox/socket). It authenticates with the
// sign-in cookie (the first frame carries no token), resubscribes after a
// reconnect from the last seq it saw on each topic, so the server replays
// exactly the messages missed, and answers the server's heartbeats.

// openplug.realtime.socket_session's close codes.
const SIGNED_OUT = new Set([4401, 4410, 4440]);

export class InboxSocket {
  constructor({ onEvent, onStatus, onSignedOut }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus || (() => {});
    this.onSignedOut = onSignedOut || (() => {});
    this.topics = new Map(); // topic -> last seq seen (or null)
    this.ws = null;
    this.ready = false;
    this.retry = 0;
    this.stopped = false;
  }

  start() {
    if (this.ws || this.stopped) return;
    const url = new URL('/inbox/socket', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = (this.ws = new WebSocket(url));
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth' }));
    ws.onmessage = (m) => this.frame(JSON.parse(m.data));
    ws.onclose = (e) => this.closed(e.code);
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
  }

  send(frame) {
    if (this.ws && this.ready) this.ws.send(JSON.stringify(frame));
  }

  subscribe(topic, afterSeq) {
    if (!this.topics.has(topic) || afterSeq !== undefined) {
      this.topics.set(topic, afterSeq ?? this.topics.get(topic) ?? null);
    }
    this.sendSubscribe(topic);
  }

  unsubscribe(topic) {
    if (this.topics.delete(topic)) this.send({ type: 'unsubscribe', topic });
  }

  sendSubscribe(topic) {
    const afterSeq = this.topics.get(topic);
    const frame = { type: 'subscribe', topic };
    if (Number.isInteger(afterSeq)) frame.after_seq = afterSeq;
    this.send(frame);
  }

  frame(f) {
    if (f.type === 'ready') {
      this.ready = true;
      this.retry = 0;
      this.onStatus('live');
      for (const topic of this.topics.keys()) this.sendSubscribe(topic);
    } else if (f.type === 'ping') {
      this.send({ type: 'pong' });
    } else if (f.type === 'event') {
      const seq = f.event && f.event.seq;
      if (Number.isInteger(seq) && this.topics.has(f.topic)) {
        this.topics.set(f.topic, Math.max(seq, this.topics.get(f.topic) || 0));
      }
      this.onEvent(f.topic, f.event);
    }
  }

  closed(code) {
    this.ws = null;
    this.ready = false;
    if (this.stopped) return;
    if (SIGNED_OUT.has(code)) {
      this.stopped = true;
      this.onSignedOut();
      return;
    }
    this.onStatus('reconnecting');
    const delay = Math.min(30000, 500 * 2 ** this.retry++) * (0.5 + Math.random() / 2);
    setTimeout(() => this.start(), delay);
  }
}
