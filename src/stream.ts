/**
 * The live updates of one instance: the server's event stream (SSE), opened
 * again with backoff when it breaks, and `GET instances/{id}` polled meanwhile.
 *
 * Both loops are `@lumino/polling` polls: the reconnection poll runs one
 * stream session per tick (a session that was live resolves, one that never
 * opened rejects, so the delay grows until a session works); the fallback poll
 * stands by while the stream is live or the page is hidden.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { CodeLabAPIError } from './request';
import { ConnectionState, IInstance } from './tokens';

/** The part of `EventSource` the stream uses. */
export interface IEventSourceLike {
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => IEventSourceLike;

/** The other kinds of event the server sends on an instance's stream (passed on as they come). */
export const FORWARDED_EVENTS = ['workspace'] as const;

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class InstanceStream implements IDisposable {
  constructor(
    readonly id: string,
    options: InstanceStream.IOptions
  ) {
    this._options = options;
    const max = options.maxInterval ?? 30_000;
    this._session = new Poll({
      name: `codelab-ext:stream#${id}`,
      factory: () => this._runSession(),
      frequency: {
        interval: options.reconnectInterval ?? 1000,
        backoff: true,
        max
      },
      standby: 'when-hidden'
    });
    this._fallback = new Poll({
      name: `codelab-ext:poll#${id}`,
      factory: () => this._fetch(),
      frequency: { interval: options.pollInterval ?? 3000, backoff: true, max },
      // only while the stream is down, and not for a hidden page
      standby: () => (this._connection === 'polling' ? 'when-hidden' : true)
    });
  }

  /** A snapshot of the instance (from the stream or a poll). */
  get received(): ISignal<this, IInstance> {
    return this._received;
  }

  /** Another kind of event of this instance (`FORWARDED_EVENTS`), e.g. a workspace job's change. */
  get event(): ISignal<this, InstanceStream.IEvent> {
    return this._event;
  }

  /** The instance does not exist any more (404). */
  get gone(): ISignal<this, void> {
    return this._gone;
  }

  /** `connection` or `error` changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get connection(): ConnectionState {
    return this._connection;
  }

  /** The last failure of the stream or of a poll, cleared by the next success. */
  get error(): string | null {
    return this._error;
  }

  get isDisposed(): boolean {
    return this._session.isDisposed;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._source?.close();
    this._source = null;
    this._session.dispose();
    this._fallback.dispose();
    this._connection = 'idle';
    Signal.clearData(this);
  }

  /** One stream session: resolves when a live stream breaks, rejects when it never opened. */
  private _runSession(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let source: IEventSourceLike;
      try {
        source = this._options.createEventSource(this._options.url);
      } catch (error) {
        this._down(messageOf(error));
        reject(error);
        return;
      }
      this._source = source;
      let opened = false;
      const current = () => this._source === source && !this.isDisposed;
      const live = () => {
        opened = true;
        this._set('live', null);
      };
      source.onopen = () => {
        if (current()) {
          live();
        }
      };
      source.addEventListener('instance', (event: MessageEvent) => {
        if (!current()) {
          return;
        }
        let data: IInstance | null = null;
        try {
          data = JSON.parse(String(event.data)) as IInstance;
        } catch {
          return;
        }
        if (!data || data.id !== this.id) {
          return;
        }
        live();
        this._received.emit(data);
      });
      for (const type of FORWARDED_EVENTS) {
        source.addEventListener(type, (event: MessageEvent) => {
          if (!current()) {
            return;
          }
          let data: unknown;
          try {
            data = JSON.parse(String(event.data));
          } catch {
            return;
          }
          live();
          this._event.emit({ type, data });
        });
      }
      // an upstream failure while the server polls ModelArts (the stream itself is fine)
      source.addEventListener('upstream-error', (event: MessageEvent) => {
        if (current()) {
          this._upstreamError(String(event.data));
        }
      });
      source.onerror = () => {
        if (!current()) {
          return;
        }
        source.close();
        this._source = null;
        this._down(this._error);
        if (opened) {
          resolve();
        } else {
          reject(new Error('event stream closed'));
        }
      };
    });
  }

  private _upstreamError(data: string): void {
    let body: { message?: unknown; status?: unknown } = {};
    try {
      body = JSON.parse(data);
    } catch {
      body = { message: data };
    }
    if (body?.status === 404) {
      this._gone.emit();
      return;
    }
    this._set(
      this._connection,
      typeof body?.message === 'string' ? body.message : null
    );
  }

  /** The stream is down: poll now, then every `pollInterval`. */
  private _down(error: string | null): void {
    const wasPolling = this._connection === 'polling';
    this._set('polling', error);
    if (!wasPolling) {
      void this._fallback.refresh();
    }
  }

  private async _fetch(): Promise<void> {
    let instance: IInstance;
    try {
      instance = await this._options.fetchInstance(this.id);
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      if (error instanceof CodeLabAPIError && error.status === 404) {
        this._gone.emit();
        return;
      }
      this._set(this._connection, messageOf(error));
      throw error; // the poll backs off
    }
    if (!this.isDisposed && this._connection === 'polling') {
      this._set('polling', null);
      this._received.emit(instance);
    }
  }

  private _set(connection: ConnectionState, error: string | null): void {
    if (connection === this._connection && error === this._error) {
      return;
    }
    this._connection = connection;
    this._error = error;
    this._changed.emit();
  }

  private readonly _options: InstanceStream.IOptions;
  private readonly _session: Poll;
  private readonly _fallback: Poll;
  private _source: IEventSourceLike | null = null;
  private _connection: ConnectionState = 'connecting';
  private _error: string | null = null;
  private _received = new Signal<this, IInstance>(this);
  private _gone = new Signal<this, void>(this);
  private _event = new Signal<this, InstanceStream.IEvent>(this);
  private _changed = new Signal<this, void>(this);
}

export namespace InstanceStream {
  /** An event of a kind in `FORWARDED_EVENTS`, its data parsed (the listener checks its shape). */
  export interface IEvent {
    type: (typeof FORWARDED_EVENTS)[number];
    data: unknown;
  }

  export interface IOptions {
    /** The SSE URL of the instance. */
    url: string;
    createEventSource: EventSourceFactory;
    /** `GET instances/{id}`, for the fallback poll. */
    fetchInstance: (id: string) => Promise<IInstance>;
    /** Milliseconds between polls while the stream is down (default 3000). */
    pollInterval?: number;
    /** First delay before opening the stream again (default 1000); it grows while it fails. */
    reconnectInterval?: number;
    /** The longest delay of both loops (default 30000). */
    maxInterval?: number;
  }
}
