/**
 * The state of the CodeLab panel and everything that changes it.
 *
 * The model talks to the server through `CodeLabAPI` and an `EventSource`
 * (both injectable for tests), keeps the current instance up to date, and
 * tells the views through `stateChanged` and the plugin through `notice`.
 * It knows nothing about React or the JupyterLab shell.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { CodeLabAPI, ICodeLabAPI } from './api';
import {
  checkShareUrl,
  defaultImageId,
  IStepTiming,
  IStepView,
  leaseDeadline,
  offersSsh,
  sshCommand,
  stepViews,
  updateStepTimings
} from './logic';
import { apiUrl, CodeLabAPIError, getServerSettings } from './request';
import {
  DEFAULT_SETTINGS,
  FAILED_STATUSES,
  ICodeLabSettings,
  ICredentialsInput,
  IImage,
  IInstance,
  IServerStatus,
  TRANSITIONAL_STATUSES
} from './tokens';

/** The part of `EventSource` the model uses. */
export interface IEventSourceLike {
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

export type EventSourceFactory = (url: string) => IEventSourceLike;

/** The part of `IStateDB` the model uses. */
export interface IStateStore {
  fetch(id: string): Promise<unknown>;
  save(id: string, value: { imageId: string }): Promise<unknown>;
}

/** Something the user should hear about even with the panel closed. */
export interface ICodeLabNotice {
  kind: 'ready' | 'failed' | 'expiring' | 'stopped';
  instance: IInstance;
  /** For `expiring`: milliseconds left. */
  remainingMs?: number;
}

/** How the panel receives instance updates. */
export type ConnectionState = 'idle' | 'connecting' | 'live' | 'polling';

export type SshState = 'none' | 'loading' | 'ready' | 'unavailable' | 'error';

export interface ICodeLabModelOptions {
  api?: ICodeLabAPI;
  /** Builds the EventSource of an instance (default: the browser's). */
  createEventSource?: EventSourceFactory;
  /** The SSE URL of an instance (default: below the server's base URL, with ?token= if set). */
  eventsUrl?: (instanceId: string) => string;
  now?: () => number;
  state?: IStateStore | null;
  /** Asked before `open` switches a running instance to another image (409). */
  confirmSwitch?: (
    running: IInstance,
    target: IImage | null
  ) => Promise<boolean>;
  /** Persists the identity file path (the plugin writes the setting). */
  saveIdentityFile?: (path: string) => void;
  /** Milliseconds between polls while the event stream is down. */
  pollInterval?: number;
  /** Reconnection backoff of the event stream, in milliseconds. */
  reconnectDelays?: number[];
}

const STATE_KEY = 'codelab-ext:panel';

/** `openError` when the shared URL is not valid (the view explains it). */
export const INVALID_SHARE_URL = 'invalid-share-url';
const HOUR_MS = 3_600_000;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The default SSE URL: `{base}codelab/instances/{id}/events[?token=...]`. */
export function defaultEventsUrl(instanceId: string): string {
  const settings = getServerSettings();
  return apiUrl(CodeLabAPI.eventsPath(instanceId), {
    token: settings.token || undefined
  });
}

export class CodeLabModel implements IDisposable {
  constructor(options: ICodeLabModelOptions = {}) {
    this._api = options.api ?? CodeLabAPI;
    this._createEventSource =
      options.createEventSource ??
      ((url: string) => new EventSource(url, { withCredentials: true }));
    this._eventsUrl = options.eventsUrl ?? defaultEventsUrl;
    this._now = options.now ?? (() => Date.now());
    this._state = options.state ?? null;
    this._confirmSwitch = options.confirmSwitch ?? (async () => false);
    this._saveIdentityFile = options.saveIdentityFile ?? null;
    this._pollInterval = options.pollInterval ?? 3000;
    this._reconnectDelays = options.reconnectDelays ?? [
      1000, 2000, 4000, 8000, 15000, 30000
    ];
  }

  /* ------------------------------------------------------------ signals */

  /** Emitted whenever anything shown by the panel changes (also every second while counting down). */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** Ready, failed, expiring, stopped. */
  get notice(): ISignal<this, ICodeLabNotice> {
    return this._notice;
  }

  /* --------------------------------------------------------------- state */

  get status(): IServerStatus | null {
    return this._status;
  }
  get statusError(): string | null {
    return this._statusError;
  }
  get signedIn(): boolean {
    return !!this._status?.credentials?.configured;
  }
  get signingIn(): boolean {
    return this._signingIn;
  }
  get signInError(): string | null {
    return this._signInError;
  }

  get images(): IImage[] {
    return this._images;
  }
  get imagesLoading(): boolean {
    return this._imagesLoading;
  }
  get imagesError(): string | null {
    return this._imagesError;
  }
  get defaultImageId(): string | null {
    const configured = this._settings.defaultImage;
    if (configured && this._images.some(i => i.id === configured)) {
      return configured;
    }
    return defaultImageId(this._images);
  }
  get selectedImageId(): string | null {
    if (
      this._selectedImageId &&
      (this._images.length === 0 ||
        this._images.some(i => i.id === this._selectedImageId))
    ) {
      return this._selectedImageId;
    }
    return this.defaultImageId;
  }
  get selectedImage(): IImage | null {
    const id = this.selectedImageId;
    return this._images.find(i => i.id === id) ?? null;
  }

  get shareUrl(): string {
    return this._shareUrl;
  }
  /** The URL actually sent by the last `open`, as the server reported it. */
  get sentShareUrl(): string | null {
    return this._sentShareUrl;
  }

  get opening(): boolean {
    return this._opening;
  }
  get openError(): string | null {
    return this._openError;
  }
  get busy(): 'stop' | 'start' | 'extend' | null {
    return this._busy;
  }
  get actionError(): string | null {
    return this._actionError;
  }

  get instance(): IInstance | null {
    return this._instance;
  }
  get connection(): ConnectionState {
    return this._connection;
  }
  get streamError(): string | null {
    return this._streamError;
  }

  get settings(): ICodeLabSettings {
    return this._settings;
  }
  get identityFile(): string {
    return this._identityFile ?? this._settings.identityFile;
  }

  get sshState(): SshState {
    return this._sshState;
  }
  get sshConfig(): string | null {
    return this._sshConfig;
  }
  get sshError(): string | null {
    return this._sshError;
  }
  /** The one-line ssh command, when the instance has an SSH endpoint. */
  get sshCommand(): string | null {
    const ssh = this._instance?.ssh;
    return ssh ? sshCommand(ssh, this.identityFile) : null;
  }

  /** Whether `open` can run now. */
  get canOpen(): boolean {
    return (
      this.signedIn &&
      !this._opening &&
      checkShareUrl(this._shareUrl).kind !== 'invalid'
    );
  }

  get isTransitional(): boolean {
    return !!this._instance && TRANSITIONAL_STATUSES.has(this._instance.status);
  }
  get isFailed(): boolean {
    return !!this._instance && FAILED_STATUSES.has(this._instance.status);
  }
  get isRunning(): boolean {
    return this._instance?.status === 'RUNNING';
  }

  /** Epoch ms at which the running instance stops, if it is counting down. */
  get deadline(): number | null {
    if (!this.isRunning) {
      return null;
    }
    return leaseDeadline(this._instance?.lease, this._receivedAt);
  }
  /** Milliseconds left before the instance stops, if it is counting down. */
  get remainingMs(): number | null {
    const deadline = this.deadline;
    return deadline === null ? null : Math.max(0, deadline - this._now());
  }
  /** Whether the countdown is in its warning window. */
  get expiring(): boolean {
    const remaining = this.remainingMs;
    return (
      remaining !== null && remaining < this._settings.warningMinutes * 60_000
    );
  }

  /** The four steps, with state and elapsed time. */
  get steps(): IStepView[] {
    return this._instance
      ? stepViews(this._instance, this._timings, this._now())
      : [];
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /* ------------------------------------------------------------- actions */

  /** Apply user settings (from the settings registry). */
  setSettings(settings: Partial<ICodeLabSettings>): void {
    this._settings = { ...DEFAULT_SETTINGS, ...settings };
    this._sshKey = null;
    this._refreshSsh();
    this._changed();
  }

  /** Load status, images and the current instance. Safe to call often (on show). */
  async refresh(): Promise<void> {
    if (this._refreshing) {
      return this._refreshing;
    }
    this._refreshing = this._refresh().finally(() => {
      this._refreshing = null;
    });
    return this._refreshing;
  }

  /**
   * At JupyterLab start, with the panel closed: one `GET instances`, so the status-bar
   * countdown knows the lease. No event stream, no SSH config, no images until the panel shows.
   */
  async peek(): Promise<void> {
    if (this._instance) {
      return;
    }
    try {
      const instances = await this._api.instances();
      const current = instances.find(i => i.status !== 'DELETED');
      if (current && !this._instance) {
        this._peeking = true;
        try {
          this._setInstance(current);
        } finally {
          this._peeking = false;
        }
      }
    } catch {
      // not signed in, or the server is down: the panel says so when it is opened
    }
  }

  /** Prefill from a deep link; never starts anything. */
  prefill(options: {
    shareUrl?: string | null;
    imageId?: string | null;
  }): void {
    if (options.shareUrl) {
      this._shareUrl = options.shareUrl;
    }
    if (options.imageId) {
      this._selectedImageId = options.imageId;
    }
    this._changed();
  }

  setShareUrl(value: string): void {
    this._shareUrl = value;
    this._openError = null;
    this._changed();
  }

  selectImage(id: string): void {
    this._selectedImageId = id;
    this._changed();
    void this._state?.save(STATE_KEY, { imageId: id }).catch(() => undefined);
  }

  setIdentityFile(path: string): void {
    this._identityFile = path;
    this._changed();
    if (this._identityTimer) {
      clearTimeout(this._identityTimer);
    }
    this._identityTimer = setTimeout(() => {
      this._identityTimer = null;
      this._saveIdentityFile?.(path.trim());
      this._refreshSsh();
    }, 500);
  }

  async signIn(credentials: ICredentialsInput): Promise<boolean> {
    this._signingIn = true;
    this._signInError = null;
    this._changed();
    try {
      this._status = await this._api.signIn(credentials);
      this._statusError = null;
      this._signingIn = false;
      this._changed();
      await this._afterSignIn();
      return true;
    } catch (error) {
      this._signInError = messageOf(error);
      this._signingIn = false;
      this._changed();
      return false;
    }
  }

  async signOut(): Promise<void> {
    try {
      await this._api.signOut();
    } catch (error) {
      this._statusError = messageOf(error);
    }
    this._setInstance(null);
    this._images = [];
    await this._loadStatus();
  }

  /**
   * Open CodeLab with the selected image and shared URL.
   *
   * When the server answers 409 (a running instance would switch image), asks
   * through `confirmSwitch` and, if accepted, opens again with `switch: true`.
   * @returns whether an instance is now starting or running
   */
  async open(): Promise<boolean> {
    if (this._opening) {
      return false;
    }
    const share = checkShareUrl(this._shareUrl);
    if (share.kind === 'invalid') {
      this._openError = INVALID_SHARE_URL;
      this._changed();
      return false;
    }
    const request = {
      image_id: this.selectedImageId ?? undefined,
      share_url: share.kind === 'ok' ? share.url : undefined
    };
    this._opening = true;
    this._openError = null;
    this._actionError = null;
    this._changed();
    try {
      let result;
      try {
        result = await this._api.open(request);
      } catch (error) {
        if (!(error instanceof CodeLabAPIError) || error.status !== 409) {
          throw error;
        }
        const running = error.body?.instance ?? this._instance;
        const accepted = running
          ? await this._confirmSwitch(running, this.selectedImage)
          : true;
        if (!accepted) {
          if (running) {
            this._setInstance(running);
          }
          return false;
        }
        result = await this._api.open({ ...request, switch: true });
      }
      this._sentShareUrl = result.share_url ?? request.share_url ?? null;
      this._startWatching(result, true);
      return true;
    } catch (error) {
      this._openError = messageOf(error);
      return false;
    } finally {
      this._opening = false;
      this._changed();
    }
  }

  /** Start the stopped instance again. */
  async start(): Promise<void> {
    const id = this._instance?.id;
    if (!id) {
      return;
    }
    await this._action('start', async () => {
      this._startWatching(await this._api.start(id), true);
    });
  }

  /** Stop the instance (the caller asks the user first). */
  async stop(): Promise<void> {
    const id = this._instance?.id;
    if (!id) {
      return;
    }
    await this._action('stop', async () => {
      this._stopRequested = true;
      this._setInstance(await this._api.stop(id));
    });
  }

  /** Keep the instance running for `hours` from now. */
  async extend(hours: number): Promise<boolean> {
    const id = this._instance?.id;
    if (!id || !(hours > 0)) {
      return false;
    }
    return this._action('extend', async () => {
      const lease = await this._api.extend(id, Math.round(hours * HOUR_MS));
      if (this._instance && this._instance.id === id) {
        this._instance = { ...this._instance, lease };
        this._receivedAt = this._now();
        this._warnedDeadline = null;
      }
    });
  }

  /** Fetch the SSH config again (e.g. after an error). */
  reloadSsh(): void {
    this._sshKey = null;
    this._refreshSsh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._disconnect();
    this._stopTicker();
    if (this._identityTimer) {
      clearTimeout(this._identityTimer);
    }
    if (this._refreshTimer) {
      clearTimeout(this._refreshTimer);
    }
    Signal.clearData(this);
  }

  /* ------------------------------------------------------------ internals */

  private async _refresh(): Promise<void> {
    const ok = await this._loadStatus();
    if (!ok) {
      this._scheduleRefresh();
      return;
    }
    this._refreshAttempt = 0;
    if (!this.signedIn) {
      return;
    }
    await this._afterSignIn();
  }

  /** The server may be restarting: try again with a growing delay. */
  private _scheduleRefresh(): void {
    if (this._refreshTimer || this._isDisposed) {
      return;
    }
    const delay =
      this._reconnectDelays[
        Math.min(this._refreshAttempt, this._reconnectDelays.length - 1)
      ];
    this._refreshAttempt++;
    this._refreshTimer = setTimeout(() => {
      this._refreshTimer = null;
      void this.refresh();
    }, delay);
  }

  private async _afterSignIn(): Promise<void> {
    await Promise.all([
      this._images.length ? Promise.resolve() : this._loadImages(),
      this._instance && this._connection !== 'idle'
        ? Promise.resolve()
        : this._reattach()
    ]);
  }

  private async _loadStatus(): Promise<boolean> {
    try {
      this._status = await this._api.status();
      this._statusError = null;
      return true;
    } catch (error) {
      this._statusError = messageOf(error);
      return false;
    } finally {
      this._changed();
    }
  }

  private async _loadImages(): Promise<void> {
    this._imagesLoading = true;
    this._imagesError = null;
    this._changed();
    try {
      const [images, saved] = await Promise.all([
        this._api.images(),
        this._state?.fetch(STATE_KEY).catch(() => undefined)
      ]);
      this._images = images;
      const savedId = (saved as { imageId?: unknown } | undefined)?.imageId;
      if (
        !this._selectedImageId &&
        typeof savedId === 'string' &&
        images.some(i => i.id === savedId)
      ) {
        this._selectedImageId = savedId;
      }
    } catch (error) {
      this._imagesError = messageOf(error);
    } finally {
      this._imagesLoading = false;
      this._changed();
    }
  }

  /** After a reload: pick up the free instance the account already has. */
  private async _reattach(): Promise<void> {
    try {
      const instances = await this._api.instances();
      const current = instances.find(i => i.status !== 'DELETED');
      if (current && (!this._instance || this._connection === 'idle')) {
        this._startWatching(current, false);
      }
    } catch (error) {
      this._streamError = messageOf(error);
      this._changed();
    }
  }

  private async _action(
    kind: 'stop' | 'start' | 'extend',
    body: () => Promise<void>
  ): Promise<boolean> {
    this._busy = kind;
    this._actionError = null;
    this._changed();
    try {
      await body();
      return true;
    } catch (error) {
      this._actionError = messageOf(error);
      return false;
    } finally {
      this._busy = null;
      this._changed();
    }
  }

  /** Show an instance and follow its changes. `fresh`: the user just opened or started it. */
  private _startWatching(instance: IInstance, fresh: boolean): void {
    const sameInstance = this._instance?.id === instance.id;
    if (fresh || !sameInstance) {
      this._timings = new Map();
      this._openedAt = fresh ? this._now() : null;
      this._expectReady = fresh;
      this._stopRequested = false;
    }
    this._setInstance(instance);
    if (!sameInstance || this._connection === 'idle') {
      this._disconnect();
      this._connect(instance.id);
    }
  }

  private _setInstance(instance: IInstance | null): void {
    const previous = this._instance;
    if (!instance) {
      this._disconnect();
      this._instance = null;
      this._sshKey = null;
      this._sshState = 'none';
      this._sshConfig = null;
      this._stopTicker();
      this._changed();
      return;
    }
    const now = this._now();
    if (previous?.id !== instance.id) {
      this._timings = new Map();
    }
    this._instance = instance;
    this._receivedAt = now;
    updateStepTimings(this._timings, instance, now, this._openedAt);

    const was = previous?.id === instance.id ? previous.status : null;
    if (was !== instance.status) {
      if (TRANSITIONAL_STATUSES.has(instance.status)) {
        if (instance.status !== 'STOPPING') {
          this._expectReady = true;
        }
      } else if (instance.status === 'RUNNING' && this._expectReady) {
        this._expectReady = false;
        this._notice.emit({ kind: 'ready', instance });
      } else if (FAILED_STATUSES.has(instance.status)) {
        if (this._expectReady || was !== null) {
          this._notice.emit({ kind: 'failed', instance });
        }
        this._expectReady = false;
      } else if (
        instance.status === 'STOPPED' &&
        was === 'RUNNING' &&
        !this._stopRequested
      ) {
        this._notice.emit({ kind: 'stopped', instance });
      }
    }
    this._updateTicker();
    this._refreshSsh();
    this._checkExpiring();
    this._changed();
  }

  /* -------- live updates: SSE, reconnection with backoff, polling fallback */

  private _connect(id: string): void {
    this._source?.close();
    this._source = null;
    this._watchedId = id;
    this._connection = 'connecting';
    let source: IEventSourceLike;
    try {
      source = this._createEventSource(this._eventsUrl(id));
    } catch (error) {
      this._streamError = messageOf(error);
      this._onStreamDown(id);
      return;
    }
    this._source = source;
    source.onopen = () => {
      if (this._source !== source) {
        return;
      }
      this._connection = 'live';
      this._attempt = 0;
      this._streamError = null;
      this._stopPolling();
      this._changed();
    };
    source.addEventListener('instance', (event: MessageEvent) => {
      if (this._source !== source) {
        return;
      }
      let data: IInstance;
      try {
        data = JSON.parse(String(event.data)) as IInstance;
      } catch {
        return;
      }
      if (!data || data.id !== id) {
        return;
      }
      if (this._connection !== 'live') {
        this._connection = 'live';
        this._attempt = 0;
        this._stopPolling();
      }
      this._streamError = null;
      this._setInstance(data);
    });
    // an upstream failure while polling (the stream itself is fine)
    source.addEventListener('upstream-error', (event: MessageEvent) => {
      if (this._source !== source) {
        return;
      }
      this._onServerError(String(event.data));
    });
    source.onerror = () => {
      if (this._source !== source) {
        return;
      }
      source.close();
      this._source = null;
      this._onStreamDown(id);
    };
    this._changed();
  }

  private _onServerError(data: string): void {
    let body: { message?: string; status?: number } = {};
    try {
      body = JSON.parse(data);
    } catch {
      body = { message: data };
    }
    if (body.status === 404) {
      // The instance is gone (deleted or released).
      this._setInstance(null);
      return;
    }
    this._streamError = body.message ?? null;
    this._changed();
  }

  /** The stream broke: poll meanwhile and reconnect after a growing delay. */
  private _onStreamDown(id: string): void {
    if (this._isDisposed || this._watchedId !== id) {
      return;
    }
    this._connection = 'polling';
    this._startPolling(id);
    const delay =
      this._reconnectDelays[
        Math.min(this._attempt, this._reconnectDelays.length - 1)
      ];
    this._attempt++;
    if (this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
    }
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this._watchedId === id) {
        this._connect(id);
        // _connect resets the state: keep polling until the stream answers.
        this._connection = 'polling';
        this._startPolling(id);
      }
    }, delay);
    this._changed();
  }

  private _startPolling(id: string): void {
    if (this._pollTimer) {
      return;
    }
    this._pollTimer = setInterval(
      () => void this._poll(id),
      this._pollInterval
    );
  }

  private async _poll(id: string): Promise<void> {
    if (this._polling) {
      return;
    }
    this._polling = true;
    try {
      const instance = await this._api.instance(id);
      if (this._watchedId === id) {
        this._streamError = null;
        this._setInstance(instance);
      }
    } catch (error) {
      if (error instanceof CodeLabAPIError && error.status === 404) {
        if (this._watchedId === id) {
          this._setInstance(null);
        }
      } else if (this._watchedId === id) {
        this._streamError = messageOf(error);
        this._changed();
      }
    } finally {
      this._polling = false;
    }
  }

  private _stopPolling(): void {
    if (this._pollTimer) {
      clearInterval(this._pollTimer);
      this._pollTimer = null;
    }
  }

  private _disconnect(): void {
    this._source?.close();
    this._source = null;
    this._watchedId = null;
    this._stopPolling();
    if (this._reconnectTimer) {
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
    }
    this._attempt = 0;
    this._connection = 'idle';
  }

  /* ------------------------------------------- countdown and elapsed time */

  private _updateTicker(): void {
    const needed =
      !!this._instance &&
      (this.deadline !== null ||
        TRANSITIONAL_STATUSES.has(this._instance.status));
    if (needed && !this._ticker) {
      this._ticker = setInterval(() => {
        this._checkExpiring();
        this._changed();
      }, 1000);
    } else if (!needed) {
      this._stopTicker();
    }
  }

  private _stopTicker(): void {
    if (this._ticker) {
      clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  private _checkExpiring(): void {
    const deadline = this.deadline;
    const instance = this._instance;
    if (deadline === null || !instance || !this.expiring) {
      return;
    }
    const remaining = this.remainingMs ?? 0;
    if (remaining > 0 && this._warnedDeadline !== deadline) {
      // Small deadline drifts between snapshots must not warn twice.
      if (
        this._warnedDeadline === null ||
        Math.abs(this._warnedDeadline - deadline) > 60_000
      ) {
        this._notice.emit({
          kind: 'expiring',
          instance,
          remainingMs: remaining
        });
      }
      this._warnedDeadline = deadline;
    }
  }

  /* ------------------------------------------------------------------ SSH */

  private _refreshSsh(): void {
    if (this._peeking) {
      return; // fetched when the panel shows and the instance is watched
    }
    const instance = this._instance;
    if (!instance || instance.status !== 'RUNNING') {
      if (this._sshState !== 'none') {
        this._sshState = 'none';
        this._sshConfig = null;
        this._sshKey = null;
      }
      return;
    }
    if (!instance.ssh) {
      this._sshState = 'unavailable';
      this._sshConfig = null;
      this._sshKey = null;
      return;
    }
    const identity = this.identityFile.trim();
    const key = `${instance.id}|${instance.ssh.host}|${instance.ssh.port}|${identity}`;
    if (key === this._sshKey) {
      return;
    }
    this._sshKey = key;
    this._sshState = 'loading';
    this._sshError = null;
    this._api
      .sshConfig(instance.id, {
        alias: 'codelab',
        identity_file: identity || undefined
      })
      .then(text => {
        if (this._sshKey === key) {
          this._sshConfig = text;
          this._sshState = 'ready';
          this._changed();
        }
      })
      .catch(error => {
        if (this._sshKey !== key) {
          return;
        }
        if (error instanceof CodeLabAPIError && error.status === 404) {
          this._sshState = 'unavailable';
        } else {
          this._sshState = 'error';
          this._sshError = messageOf(error);
          this._sshKey = null;
        }
        this._sshConfig = null;
        this._changed();
      });
  }

  /** Whether the selected image offers SSH (shown before opening). */
  get selectedImageOffersSsh(): boolean {
    return offersSsh(this.selectedImage);
  }

  private _changed(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  private readonly _api: ICodeLabAPI;
  private readonly _createEventSource: EventSourceFactory;
  private readonly _eventsUrl: (id: string) => string;
  private readonly _now: () => number;
  private readonly _state: IStateStore | null;
  private readonly _confirmSwitch: (
    running: IInstance,
    target: IImage | null
  ) => Promise<boolean>;
  private readonly _saveIdentityFile: ((path: string) => void) | null;
  private readonly _pollInterval: number;
  private readonly _reconnectDelays: number[];

  private _stateChanged = new Signal<this, void>(this);
  private _notice = new Signal<this, ICodeLabNotice>(this);
  private _isDisposed = false;

  private _settings: ICodeLabSettings = { ...DEFAULT_SETTINGS };
  private _status: IServerStatus | null = null;
  private _statusError: string | null = null;
  private _signingIn = false;
  private _signInError: string | null = null;
  private _refreshing: Promise<void> | null = null;
  private _refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private _refreshAttempt = 0;

  private _images: IImage[] = [];
  private _imagesLoading = false;
  private _imagesError: string | null = null;
  private _selectedImageId: string | null = null;
  private _shareUrl = '';
  private _sentShareUrl: string | null = null;

  private _opening = false;
  private _openError: string | null = null;
  private _busy: 'stop' | 'start' | 'extend' | null = null;
  private _actionError: string | null = null;

  private _instance: IInstance | null = null;
  private _receivedAt = 0;
  private _timings = new Map<number, IStepTiming>();
  private _openedAt: number | null = null;
  private _expectReady = false;
  private _stopRequested = false;
  private _warnedDeadline: number | null = null;

  private _source: IEventSourceLike | null = null;
  private _watchedId: string | null = null;
  private _connection: ConnectionState = 'idle';
  private _peeking = false;
  private _streamError: string | null = null;
  private _attempt = 0;
  private _reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private _pollTimer: ReturnType<typeof setInterval> | null = null;
  private _polling = false;
  private _ticker: ReturnType<typeof setInterval> | null = null;

  private _identityFile: string | null = null;
  private _identityTimer: ReturnType<typeof setTimeout> | null = null;
  private _sshKey: string | null = null;
  private _sshState: SshState = 'none';
  private _sshConfig: string | null = null;
  private _sshError: string | null = null;
}
