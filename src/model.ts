/**
 * The state of the CodeLab panel and everything that changes it.
 *
 * The model talks to the server through an `ICodeLabAPI` (built on the
 * injected `ServerConnection.ISettings`) and follows the current instance
 * through an `InstanceStream`. It tells the views through `stateChanged` (a
 * change they show), `tick` (once a second for countdowns and elapsed times
 * only) and the plugin through `notice`. Every wait is a `@lumino/polling`
 * `Poll` or `Debouncer`: no hand-made timer. It knows nothing about React or the
 * JupyterLab shell.
 */
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator } from '@jupyterlab/translation';
import { Debouncer, Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { CodeLabClient, ICodeLabAPI } from './api';
import {
  defaultImageId,
  extendChoices,
  HOUR_MS,
  findImage,
  IStepTiming,
  IStepView,
  leaseDeadline,
  offersSsh,
  stepViews,
  updateStepTimings
} from './logic';
import { CodeLabAPIError } from './request';
import { SshConfigLoader } from './sshconfig';
import { EventSourceFactory, InstanceStream, messageOf } from './stream';
import {
  ConnectionState,
  DEFAULT_SETTINGS,
  ICodeLabModel,
  ICodeLabNotice,
  ICodeLabSettings,
  ICredentialsInput,
  IErrorBody,
  IImage,
  IInstance,
  ILease,
  IServerStatus,
  ISharePreview,
  SshState
} from './tokens';

export type { ConnectionState, ICodeLabNotice, SshState } from './tokens';
export type { EventSourceFactory, IEventSourceLike } from './stream';

/**
 * What the server says of the shared notebook URL being typed (`GET share-url`, asked a
 * moment after the last keystroke): nothing typed; asking; what `open` will send; refused,
 * with the server's message; or not checked (the server could not be asked: `open` sends
 * the URL anyway and the server decides).
 */
export type ShareUrlCheck =
  | { kind: 'empty' }
  | { kind: 'checking' }
  | ({ kind: 'ok' } & ISharePreview)
  | { kind: 'invalid'; message: string }
  | { kind: 'unchecked'; message: string };

/** The part of `IStateDB` the model uses. */
export interface IStateStore {
  fetch(id: string): Promise<unknown>;
  save(id: string, value: { imageId: string }): Promise<unknown>;
}

export interface ICodeLabModelOptions {
  /** The Jupyter server (the application's `serviceManager.serverSettings`). */
  serverSettings?: ServerConnection.ISettings;
  /** Translates the messages of the REST client. */
  translator?: ITranslator;
  /** The REST API (default: a `CodeLabClient` on `serverSettings`). */
  api?: ICodeLabAPI;
  /** Builds the EventSource of an instance (default: the browser's). */
  createEventSource?: EventSourceFactory;
  now?: () => number;
  state?: IStateStore | null;
  /** Asked before `open` switches a running instance to another image (409). */
  confirmSwitch?: (
    running: IInstance,
    target: IImage | null,
    message: string
  ) => Promise<boolean>;
  /**
   * Asked when the server refuses an extension because it would shorten the
   * lease (409 `{message, lease}`): `current` is the lease the instance has,
   * `message` the server's explanation. Accepting sends it again with `shorten`.
   */
  confirmShorten?: (
    current: ILease | null,
    hours: number,
    message: string
  ) => Promise<boolean>;
  /**
   * Asked when a Stop or a switch is refused because the linked folder's
   * changes could not be pulled back (409 `codelab.files_not_home`): `body`
   * lists the files. 'extend' keeps the instance one more hour, 'leave' stops
   * (or switches) anyway, 'cancel' does nothing.
   */
  confirmFilesNotHome?: (
    instance: IInstance | null,
    body: IErrorBody
  ) => Promise<'extend' | 'leave' | 'cancel'>;
  /** Persists the identity file path (the plugin writes the setting). */
  saveIdentityFile?: (path: string) => void;
  /** Milliseconds between polls while the event stream is down. */
  pollInterval?: number;
  /** First delay before a new attempt (event stream, server status); it grows while they fail. */
  retryInterval?: number;
  /** The longest delay between two attempts. */
  maxRetryInterval?: number;
  /** Milliseconds after the last keystroke before the shared URL is checked by the server. */
  shareCheckDelay?: number;
}

const STATE_KEY = 'codelab-ext:panel';

/** `openError` when the shared URL is not valid (the view explains it). */
export const INVALID_SHARE_URL = 'invalid-share-url';

/** The options of a model, defaults applied. */
type IResolvedOptions = Required<
  Omit<ICodeLabModelOptions, 'serverSettings' | 'translator' | 'api' | 'state'>
> & { state: IStateStore | null };

export class CodeLabModel implements ICodeLabModel {
  constructor(options: ICodeLabModelOptions = {}) {
    this._api =
      options.api ??
      new CodeLabClient({
        serverSettings: options.serverSettings,
        translator: options.translator
      });
    this._options = {
      createEventSource:
        options.createEventSource ??
        ((url: string) => new EventSource(url, { withCredentials: true })),
      now: options.now ?? (() => Date.now()),
      state: options.state ?? null,
      confirmSwitch: options.confirmSwitch ?? (async () => false),
      confirmShorten: options.confirmShorten ?? (async () => false),
      confirmFilesNotHome:
        options.confirmFilesNotHome ?? (async () => 'cancel' as const),
      saveIdentityFile: options.saveIdentityFile ?? (() => undefined),
      pollInterval: options.pollInterval ?? 3000,
      retryInterval: options.retryInterval ?? 1000,
      maxRetryInterval: options.maxRetryInterval ?? 30_000,
      shareCheckDelay: options.shareCheckDelay ?? 300
    };
    this._ssh = new SshConfigLoader(this._api);
    this._ssh.changed.connect(this._changed, this);
    this._clock = new Poll({
      auto: false,
      name: 'codelab-ext:clock',
      factory: async () => {
        this._checkExpiring();
        this._tick.emit();
      },
      frequency: { interval: 1000, backoff: false },
      standby: 'when-hidden'
    });
    this._retry = new Poll({
      auto: false,
      name: 'codelab-ext:status',
      factory: () => this._retryRefresh(),
      frequency: {
        interval: this._options.retryInterval,
        backoff: true,
        max: this._options.maxRetryInterval
      },
      standby: 'when-hidden'
    });
    this._saveIdentity = new Debouncer(() => {
      this._options.saveIdentityFile(this.identityFile.trim());
      this._refreshSsh();
    }, 500);
    this._shareDebouncer = new Debouncer(
      () => this._checkShareUrl(),
      this._options.shareCheckDelay
    );
  }

  /* ------------------------------------------------------------ signals */

  /** Emitted whenever something shown by the panel changes (not every second). */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** Once a second while the lease counts down or the instance moves: for countdowns and elapsed times. */
  get tick(): ISignal<this, void> {
    return this._tick;
  }

  /** The current instance was replaced, updated or forgotten (null). */
  get instanceChanged(): ISignal<this, IInstance | null> {
    return this._instanceChanged;
  }

  /** Ready, failed, expiring, stopped. */
  get notice(): ISignal<this, ICodeLabNotice> {
    return this._notice;
  }

  /** Another event on the current instance's stream (e.g. `workspace`: a job started, moved or ended). */
  get streamEvent(): ISignal<this, InstanceStream.IEvent> {
    return this._streamEvent;
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
    const configured = findImage(this._images, this._settings.defaultImage);
    return configured ? configured.id : defaultImageId(this._images);
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
  /** Whether the selected image offers SSH (shown before opening). */
  get selectedImageOffersSsh(): boolean {
    return offersSsh(this.selectedImage);
  }

  get shareUrl(): string {
    return this._shareUrl;
  }
  /** What the server says of `shareUrl` (see `ShareUrlCheck`). */
  get shareUrlCheck(): ShareUrlCheck {
    return this._shareCheck;
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
    return this._stream?.connection ?? 'idle';
  }
  get streamError(): string | null {
    return this._stream ? this._stream.error : this._streamError;
  }

  get settings(): ICodeLabSettings {
    return this._settings;
  }
  get identityFile(): string {
    return this._identityFile ?? this._settings.identityFile;
  }

  get sshState(): SshState {
    return this._ssh.state;
  }
  get sshConfig(): string | null {
    return this._ssh.config;
  }
  get sshError(): string | null {
    return this._ssh.error;
  }
  /** The one-line ssh command, when the instance has an SSH endpoint. */
  get sshCommand(): string | null {
    const ssh = this._instance?.ssh;
    return ssh ? this._ssh.command : null;
  }

  /** The hours Extend offers: within the lease bounds the server enforces. */
  get extendChoices(): number[] {
    return extendChoices(this._status?.lease);
  }

  /** Whether `open` can run now. */
  get canOpen(): boolean {
    return (
      this.signedIn &&
      !this._opening &&
      this._shareCheck.kind !== 'invalid' &&
      this.selectedImageId !== null
    );
  }

  /** On its way somewhere (starting, stopping...), as the server classes the status. */
  get isTransitional(): boolean {
    const cls = this._instance?.status_class;
    return cls === 'changing' || cls === 'stopping';
  }
  get isFailed(): boolean {
    return this._instance?.status_class === 'failed';
  }
  get isRunning(): boolean {
    return this._instance?.status_class === 'running';
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
    return deadline === null
      ? null
      : Math.max(0, deadline - this._options.now());
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
      ? stepViews(this._instance, this._timings, this._options.now())
      : [];
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /* ------------------------------------------------------------- actions */

  /** Apply user settings (from the settings registry). */
  setSettings(settings: Partial<ICodeLabSettings>): void {
    this._settings = { ...DEFAULT_SETTINGS, ...settings };
    this._ssh.reset();
    this._refreshSsh();
    this._changed();
  }

  /**
   * Load status, images and the current instance. Safe to call often (on show).
   * `checkInstance`: ask the server which instance the account has now even when one is
   * shown and followed (what `checkInstance()` does), in the same single `GET instances`
   * the load makes when it has no instance to follow yet.
   */
  async refresh(options: { checkInstance?: boolean } = {}): Promise<void> {
    const check = options.checkInstance ?? false;
    if (this._refreshing) {
      // a load already under way may have read the list before the caller asked
      await this._refreshing;
      if (check) {
        await this.checkInstance();
      }
      return;
    }
    this._refreshing = this._refresh(check).finally(() => {
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

  /**
   * Ask the server which instance the account has now, and follow that one. The
   * instance shown may be gone: ModelArts deletes a free instance unused for 72 h, and
   * a Stop and an open from another machine replace it. Every action on the instance
   * that came from outside the panel (Open in CodeLab) checks first, and so does a
   * section whose call answered 404.
   */
  async checkInstance(): Promise<void> {
    if (!this.signedIn) {
      return;
    }
    await this._reattach();
  }

  /** Prefill from a deep link; never starts anything. */
  prefill(options: {
    shareUrl?: string | null;
    imageId?: string | null;
  }): void {
    if (options.imageId) {
      this._selectedImageId = options.imageId;
    }
    if (options.shareUrl) {
      this.setShareUrl(options.shareUrl);
    } else {
      this._changed();
    }
  }

  /** Edit the shared notebook URL; the server checks it a moment after the last keystroke. */
  setShareUrl(value: string): void {
    this._shareUrl = value;
    this._openError = null;
    this._shareAbort?.abort();
    this._shareAbort = null;
    if (value.trim()) {
      this._shareCheck = { kind: 'checking' };
      void this._shareDebouncer.invoke();
    } else {
      this._shareCheck = { kind: 'empty' };
      void this._shareDebouncer.stop();
    }
    this._changed();
  }

  /** Ask the server about the shared URL now (no waiting for the keystrokes to stop). */
  async checkShareUrl(): Promise<ShareUrlCheck> {
    void this._shareDebouncer.stop();
    await this._checkShareUrl();
    return this._shareCheck;
  }

  selectImage(id: string): void {
    this._selectedImageId = id;
    this._changed();
    void this._options.state
      ?.save(STATE_KEY, { imageId: id })
      .catch(() => undefined);
  }

  /** Edit the identity file; saved and used half a second after the last keystroke. */
  setIdentityFile(path: string): void {
    this._identityFile = path;
    this._changed();
    void this._saveIdentity.invoke();
  }

  async signIn(credentials: ICredentialsInput): Promise<boolean> {
    return this._storeCredentials(() => this._api.signIn(credentials));
  }

  /** With the embedded emulator: sign in again with its demo account. */
  async useDemoAccount(): Promise<boolean> {
    return this._storeCredentials(() => this._api.useDemoAccount());
  }

  private async _storeCredentials(
    store: () => Promise<IServerStatus>
  ): Promise<boolean> {
    this._signingIn = true;
    this._signInError = null;
    this._changed();
    try {
      this._status = await store();
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
    if (this._shareCheck.kind === 'invalid') {
      this._openError = INVALID_SHARE_URL;
      this._changed();
      return false;
    }
    // always a named image: a blank one is the default image to the server (a switch of a running
    // instance of another image), so nothing is sent before the catalogue names one
    const imageId = this.selectedImageId;
    if (imageId === null) {
      return false;
    }
    // the URL as typed: the server normalises it (and refuses it with a message if it must)
    const shareUrl = this._shareUrl.trim();
    const request = {
      image_id: imageId,
      share_url: shareUrl || undefined
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
          ? await this._options.confirmSwitch(
              running,
              this.selectedImage,
              error.message
            )
          : true;
        if (!accepted) {
          if (running) {
            this._setInstance(running);
          }
          return false;
        }
        result = await this._leavingFiles(
          leave => this._api.open({ ...request, switch: true, ...leave }),
          running
        );
        if (result === null) {
          return false;
        }
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
      const stopped = await this._leavingFiles(
        leave => this._api.stop(id, leave.leave_files),
        this._instance
      );
      if (stopped === null) {
        this._stopRequested = false;
        return;
      }
      this._setInstance(stopped);
    });
  }

  /** Keep the instance running for `hours` from now. */
  async extend(hours: number): Promise<boolean> {
    const id = this._instance?.id;
    // a lease is only read or renewed while the instance is RUNNING (the server refuses otherwise)
    if (!id || !(hours > 0) || !this.isRunning) {
      return false;
    }
    let declined = false;
    const done = await this._action('extend', async () => {
      const durationMs = Math.round(hours * HOUR_MS);
      let lease: ILease;
      try {
        lease = await this._api.extend(id, durationMs);
      } catch (error) {
        // the server never shortens a lease unasked: ask, then send it again with `shorten`
        if (!(error instanceof CodeLabAPIError) || error.status !== 409) {
          throw error;
        }
        const current = error.body?.lease ?? this._instance?.lease ?? null;
        if (
          !(await this._options.confirmShorten(current, hours, error.message))
        ) {
          declined = true;
          return;
        }
        lease = await this._api.extend(id, durationMs, true);
      }
      if (this._instance && this._instance.id === id) {
        this._instance = { ...this._instance, lease };
        this._receivedAt = this._options.now();
        this._warnedDeadline = null;
        this._instanceChanged.emit(this._instance);
        this._updateClock();
      }
    });
    return done && !declined;
  }

  /** Fetch the SSH config again (e.g. after an error). */
  reloadSsh(): void {
    this._ssh.reset();
    this._refreshSsh();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._stream?.dispose();
    this._stream = null;
    this._clock.dispose();
    this._retry.dispose();
    this._saveIdentity.dispose();
    this._shareDebouncer.dispose();
    this._shareAbort?.abort();
    this._ssh.dispose();
    Signal.clearData(this);
  }

  /* ------------------------------------------------------------ internals */

  private async _refresh(checkInstance: boolean): Promise<void> {
    if (!(await this._loadStatus())) {
      // The server may be restarting: try again with a growing delay.
      void this._retry.start();
      return;
    }
    if (this.signedIn) {
      await this._afterSignIn(checkInstance);
    }
  }

  /** A tick of the status retry poll: rejects (so the delay grows) until the server answers. */
  private async _retryRefresh(): Promise<void> {
    if (!(await this._loadStatus())) {
      throw new Error(this._statusError ?? 'status');
    }
    void this._retry.stop();
    if (this.signedIn) {
      await this._afterSignIn();
    }
  }

  /** Images once; the instance list when no instance is followed yet, or when asked to check it. */
  private async _afterSignIn(checkInstance = false): Promise<void> {
    const followed = this._instance !== null && this._stream !== null;
    await Promise.all([
      this._images.length ? Promise.resolve() : this._loadImages(),
      followed && !checkInstance ? Promise.resolve() : this._reattach()
    ]);
  }

  /** One `GET share-url` for the URL as it is now; a newer keystroke cancels it. */
  private async _checkShareUrl(): Promise<void> {
    const text = this._shareUrl.trim();
    this._shareAbort?.abort();
    this._shareAbort = null;
    if (!text) {
      this._shareCheck = { kind: 'empty' };
      this._changed();
      return;
    }
    const controller = new AbortController();
    this._shareAbort = controller;
    let check: ShareUrlCheck;
    try {
      const preview = await this._api.sharePreview(text, controller.signal);
      check = { kind: 'ok', ...preview };
    } catch (error) {
      if (controller.signal.aborted) {
        return; // a newer text is being checked
      }
      check =
        error instanceof CodeLabAPIError && error.status === 400
          ? { kind: 'invalid', message: error.message }
          : { kind: 'unchecked', message: messageOf(error) };
    }
    if (controller.signal.aborted || this._isDisposed) {
      return;
    }
    this._shareAbort = null;
    this._shareCheck = check;
    this._changed();
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
        this._options.state?.fetch(STATE_KEY).catch(() => undefined)
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

  /**
   * After a reload, or when the instance shown may be gone: the server's list says which
   * instance the account has. The one shown is followed (its stream opened if it has
   * none), replaced by the current one, or forgotten when there is none. An answer that
   * comes after the instance changed by another way (an open, a stream) is left alone.
   */
  private async _reattach(): Promise<void> {
    const shown = this._instance?.id ?? null;
    try {
      const instances = await this._api.instances();
      if (
        this._isDisposed ||
        this._opening ||
        (this._instance?.id ?? null) !== shown
      ) {
        return;
      }
      const current =
        instances.find(i => i.status !== 'DELETED' && i.id !== this._goneId) ??
        null;
      if (!current) {
        if (this._instance) {
          this._setInstance(null);
        }
      } else if (current.id !== shown || !this._stream) {
        this._startWatching(current, false);
      }
    } catch (error) {
      this._streamError = messageOf(error);
      this._changed();
    }
  }

  /**
   * Send a Stop or a switch; when the server answers that the linked folder's
   * changes are not home (409 `codelab.files_not_home`), ask: extend (null),
   * leave them on the instance (sent again with `leave_files`), or cancel (null).
   */
  private async _leavingFiles<T>(
    send: (leave: { leave_files?: boolean }) => Promise<T>,
    instance: IInstance | null
  ): Promise<T | null> {
    try {
      return await send({});
    } catch (error) {
      if (
        !(error instanceof CodeLabAPIError) ||
        error.status !== 409 ||
        error.code !== 'codelab.files_not_home' ||
        !error.body
      ) {
        throw error;
      }
      const choice = await this._options.confirmFilesNotHome(
        instance,
        error.body
      );
      if (choice === 'leave') {
        return await send({ leave_files: true });
      }
      if (choice === 'extend') {
        this._busy = null;
        await this.extend(1);
      }
      return null;
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
      this._openedAt = fresh ? this._options.now() : null;
      this._expectReady = fresh;
      this._stopRequested = false;
    }
    this._setInstance(instance);
    if (this._stream?.id !== instance.id) {
      this._follow(instance.id);
    }
  }

  /** Open the live updates of an instance (closing those of the previous one). */
  private _follow(id: string): void {
    this._stream?.dispose();
    const stream = new InstanceStream(id, {
      url: this._api.eventsUrl(id),
      createEventSource: this._options.createEventSource,
      fetchInstance: instanceId => this._api.instance(instanceId),
      pollInterval: this._options.pollInterval,
      reconnectInterval: this._options.retryInterval,
      maxInterval: this._options.maxRetryInterval
    });
    stream.received.connect((_, instance) => this._setInstance(instance));
    stream.gone.connect(() => {
      // deleted by the cloud: forget it, then follow the one the account has now, if any
      // (never the one that went, should a list still name it)
      this._goneId = id;
      this._setInstance(null);
      void this._reattach();
    });
    stream.event.connect((_, event) => this._streamEvent.emit(event));
    stream.changed.connect(this._changed, this);
    this._stream = stream;
    this._streamError = null;
  }

  private _setInstance(instance: IInstance | null): void {
    const previous = this._instance;
    if (!instance) {
      this._stream?.dispose();
      this._stream = null;
      this._instance = null;
      this._ssh.update(null, '');
      this._updateClock();
      this._instanceChanged.emit(null);
      this._changed();
      return;
    }
    const now = this._options.now();
    if (previous?.id !== instance.id) {
      this._timings = new Map();
    }
    this._instance = instance;
    this._receivedAt = now;
    updateStepTimings(this._timings, instance, now, this._openedAt);

    const was = previous?.id === instance.id ? previous.status : null;
    if (was !== instance.status) {
      this._noticeTransition(instance, was);
    }
    this._updateClock();
    this._refreshSsh();
    this._checkExpiring();
    this._instanceChanged.emit(instance);
    this._changed();
  }

  /** Ready, failed or stopped by its lease: what the user hears about a new status. */
  private _noticeTransition(instance: IInstance, was: string | null): void {
    const cls = instance.status_class;
    if (cls === 'changing') {
      this._expectReady = true;
    } else if (cls === 'stopping') {
      // winding down: nothing to announce until it settles
    } else if (cls === 'running' && this._expectReady) {
      this._expectReady = false;
      this._notice.emit({ kind: 'ready', instance });
    } else if (cls === 'failed') {
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

  /* ------------------------------------------- countdown and elapsed time */

  /** The clock ticks while there is a countdown or an elapsed time to show. */
  private _updateClock(): void {
    const needed = this.deadline !== null || this.isTransitional;
    void (needed ? this._clock.start() : this._clock.stop());
  }

  /** Warn once when the lease enters its last minutes; tell the views when `expiring` flips. */
  private _checkExpiring(): void {
    const expiring = this.expiring;
    if (expiring !== this._wasExpiring) {
      this._wasExpiring = expiring;
      this._changed();
    }
    const deadline = this.deadline;
    const instance = this._instance;
    if (deadline === null || !instance || !expiring) {
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
    this._ssh.update(this._instance, this.identityFile);
  }

  private _changed(): void {
    if (!this._isDisposed) {
      this._stateChanged.emit();
    }
  }

  private readonly _api: ICodeLabAPI;
  private readonly _options: IResolvedOptions;
  private readonly _clock: Poll;
  private readonly _retry: Poll;
  private readonly _saveIdentity: Debouncer;
  private readonly _shareDebouncer: Debouncer;
  private readonly _ssh: SshConfigLoader;

  private _stateChanged = new Signal<this, void>(this);
  private _tick = new Signal<this, void>(this);
  private _instanceChanged = new Signal<this, IInstance | null>(this);
  private _notice = new Signal<this, ICodeLabNotice>(this);
  private _streamEvent = new Signal<this, InstanceStream.IEvent>(this);
  private _isDisposed = false;

  private _settings: ICodeLabSettings = { ...DEFAULT_SETTINGS };
  private _status: IServerStatus | null = null;
  private _statusError: string | null = null;
  private _signingIn = false;
  private _signInError: string | null = null;
  private _refreshing: Promise<void> | null = null;

  private _images: IImage[] = [];
  private _imagesLoading = false;
  private _imagesError: string | null = null;
  private _selectedImageId: string | null = null;
  private _shareUrl = '';
  private _shareCheck: ShareUrlCheck = { kind: 'empty' };
  private _shareAbort: AbortController | null = null;
  private _sentShareUrl: string | null = null;

  private _opening = false;
  private _openError: string | null = null;
  private _busy: 'stop' | 'start' | 'extend' | null = null;
  private _actionError: string | null = null;

  private _instance: IInstance | null = null;
  private _stream: InstanceStream | null = null;
  private _streamError: string | null = null;
  private _peeking = false;
  /** The last instance whose stream said it does not exist any more. */
  private _goneId: string | null = null;
  private _receivedAt = 0;
  private _timings = new Map<number, IStepTiming>();
  private _openedAt: number | null = null;
  private _expectReady = false;
  private _stopRequested = false;
  private _warnedDeadline: number | null = null;
  private _wasExpiring = false;

  private _identityFile: string | null = null;
}
