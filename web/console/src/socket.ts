// The staff WebSocket: one socket, commands correlated by id, reconnect with
// back-off and jitter, resume of every followed conversation from the store's
// cursors and epoch, ping to keep the socket alive.

import type { ServerFrame } from './types';

export class CommandError extends Error {
  constructor(public code: string, message: string) {
    super(message);
  }
}

interface Pending {
  type: string;
  data: unknown;
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  resend: boolean;
}

export type SocketState = 'connecting' | 'open' | 'closed';

export interface SocketHooks {
  onHello(data: any): void;
  onEvent(f: ServerFrame): void;
  onState(s: SocketState): void;
  onRevoked(): void;
}

export class StaffSocket {
  private ws: WebSocket | null = null;
  private nextId = 0;
  private pending = new Map<string, Pending>();
  private backlog: Pending[] = [];
  private attempts = 0;
  private stopped = false;
  private pingTimer = 0;
  private lastSent = 0;
  private ready = false;
  state: SocketState = 'closed';

  constructor(private hooks: SocketHooks) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    this.ws?.close(1000);
    this.ws = null;
  }

  // reconnectNow drops the socket and reconnects (used after the browser
  // reports the network is back).
  reconnectNow(): void {
    if (this.ws && this.state === 'open') return;
    this.attempts = 0;
    this.ws?.close();
  }

  private setState(s: SocketState): void {
    this.state = s;
    this.hooks.onState(s);
  }

  private connect(): void {
    if (this.stopped) return;
    this.setState('connecting');
    this.ready = false;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws/staff`);
    this.ws = ws;
    ws.onmessage = (ev) => {
      let f: ServerFrame;
      try {
        f = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      this.onFrame(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      clearInterval(this.pingTimer);
      // unanswered commands: sends carry their client_id and are safe to resend
      for (const [, p] of this.pending) {
        if (p.resend) this.backlog.push(p);
        else p.reject(new CommandError('disconnected', 'Connection lost. Try again.'));
      }
      this.pending.clear();
      this.setState('closed');
      if (ev.code === 4009) {
        this.hooks.onRevoked();
        return;
      }
      if (this.stopped) return;
      const base = Math.min(5000, 500 * 2 ** this.attempts++);
      setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
    };
  }

  private onFrame(f: ServerFrame): void {
    if (f.type === 'hello') {
      this.attempts = 0;
      this.ready = true;
      this.setState('open');
      this.hooks.onHello(f.data);
      const queued = this.backlog;
      this.backlog = [];
      for (const p of queued) this.write(p);
      clearInterval(this.pingTimer);
      this.pingTimer = window.setInterval(() => {
        if (Date.now() - this.lastSent > 20000) this.command('ping').catch(() => {});
      }, 5000);
      return;
    }
    if ((f.type === 'ack' || f.type === 'error') && f.id) {
      const p = this.pending.get(f.id);
      if (!p) return;
      this.pending.delete(f.id);
      if (f.type === 'ack') p.resolve(f.data);
      else p.reject(new CommandError(f.error?.code ?? 'error', f.error?.message ?? 'Something went wrong'));
      return;
    }
    this.hooks.onEvent(f);
  }

  private write(p: Pending): void {
    const id = 'c' + ++this.nextId;
    this.pending.set(id, p);
    this.lastSent = Date.now();
    this.ws!.send(JSON.stringify({ id, type: p.type, data: p.data }));
  }

  // command sends a command and resolves with its ack data. Idempotent
  // commands (send, note with a client_id) wait for the reconnect; others
  // fail at once when the socket is down.
  command<T = any>(type: string, data?: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const resend = type === 'send' || type === 'note';
      const p: Pending = { type, data, resolve, reject, resend };
      if (this.ws && this.ready && this.ws.readyState === WebSocket.OPEN) this.write(p);
      else if (resend) this.backlog.push(p);
      else reject(new CommandError('disconnected', 'Not connected. Reconnecting…'));
    });
  }

  get connected(): boolean {
    return this.ready;
  }
}
