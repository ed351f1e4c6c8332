/**
 * The Workspace section's state: the running instance's linked folder, what
 * waits on each side, and the job the server runs (push, pull, sync, or the
 * lease guard's own pull). Every rule is the server's: this model only asks
 * and shows the answers.
 *
 * A job's changes come as `event: workspace` on the instance's event stream
 * (the one `CodeLabModel` keeps open); only while that stream is down does
 * the model poll: the job every second, the newest job every 15 s.
 */
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { CodeLabModel } from '../model';
import { CodeLabAPIError } from '../request';
import { InstanceStream } from '../stream';
import { IWorkspace, IWorkspaceAPI, IWorkspaceJob } from './api';

function messageOf(error: unknown): string {
  if (error instanceof Error && error.message) {
    return error.message;
  }
  return String(error);
}

/** A job the lease guard started by itself (not a button of the panel). */
export function isGuardJob(job: IWorkspaceJob | null | undefined): boolean {
  return (
    !!job &&
    (job.trigger === 'lease' ||
      job.trigger === 'stop' ||
      job.trigger === 'switch')
  );
}

export class WorkspaceModel implements IDisposable {
  constructor(options: WorkspaceModel.IOptions) {
    this._codelab = options.codelab;
    this._api = options.api;
    this._translator = options.translator ?? nullTranslator;
    this._jobPoll = new Poll({
      auto: false,
      factory: () => this._followJob(),
      frequency: {
        interval: options.jobInterval ?? 1000,
        backoff: false,
        max: options.jobInterval ?? 1000
      },
      name: 'codelab-ext:workspace-job',
      // the stream tells a job's changes; the poll is its stand-in while it is down
      standby: () => this._live
    });
    this._watchPoll = new Poll({
      auto: false,
      factory: () => this.refresh({ waiting: false }),
      frequency: {
        interval: options.watchInterval ?? 15000,
        backoff: true,
        max: 120000
      },
      name: 'codelab-ext:workspace-watch',
      // no stream at all (the panel never shown): nobody looks, the panel's show asks once
      standby: () => this._live || this._idle || 'when-hidden'
    });
    this._codelab.stateChanged.connect(this._onCodeLab, this);
    this._codelab.streamEvent.connect(this._onStreamEvent, this);
    this._onCodeLab();
  }

  /** Something shown changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** The lease guard pulled (or tried to) by itself: the panel says so. */
  get guardJob(): ISignal<this, IWorkspaceJob> {
    return this._guardJob;
  }

  /** The running instance whose workspace this is (null: none runs). */
  get instanceId(): string | null {
    const instance = this._codelab.instance;
    return instance && this._codelab.isRunning ? instance.id : null;
  }

  get workspace(): IWorkspace | null {
    return this._workspace;
  }

  /** The running job, else the newest one. */
  get job(): IWorkspaceJob | null {
    return this._job;
  }

  get running(): boolean {
    return this._job?.state === 'running';
  }

  get loading(): boolean {
    return this._loading;
  }

  get error(): string | null {
    return this._error;
  }

  /** Files changed on the instance that the guard could not bring home (null: none known). */
  get notHome(): string[] | null {
    const job = this._job;
    if (!isGuardJob(job) || job?.state !== 'failed') {
      return null;
    }
    return job.not_home ?? [];
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._codelab.stateChanged.disconnect(this._onCodeLab, this);
    this._codelab.streamEvent.disconnect(this._onStreamEvent, this);
    this._jobPoll.dispose();
    this._watchPoll.dispose();
    Signal.clearData(this);
  }

  /** Ask the server again (`waiting: false`: the link and the newest job only, no call to the instance). */
  async refresh(options: { waiting?: boolean } = {}): Promise<void> {
    const id = this.instanceId;
    this._owed = false;
    if (!id) {
      this._set(null);
      return;
    }
    const full = options.waiting !== false;
    if (full) {
      this._loading = true;
      this._changed.emit();
    }
    try {
      const answer = await this._api.get(id, full);
      if (this.instanceId !== id) {
        return;
      }
      if (!full && this._workspace) {
        // keep the comparison shown until the next full look
        this._set({
          ...answer,
          waiting: this._workspace.waiting,
          waiting_error: this._workspace.waiting_error
        });
      } else {
        this._set(answer);
      }
      this._error = null;
    } catch (error) {
      await this._failed(id, error);
    } finally {
      if (full) {
        this._loading = false;
      }
      this._changed.emit();
    }
  }

  /** Link a folder (relative to the Jupyter root) to the running instance. */
  async link(local: string): Promise<boolean> {
    const id = this.instanceId;
    if (!id) {
      return false;
    }
    try {
      this._set(await this._api.link(id, local));
      this._error = null;
      return true;
    } catch (error) {
      await this._failed(id, error);
      return false;
    } finally {
      this._changed.emit();
    }
  }

  /** Forget the link (no file is deleted on either side). */
  async unlink(): Promise<void> {
    const id = this.instanceId;
    if (!id) {
      return;
    }
    try {
      await this._api.unlink(id);
      this._error = null;
    } catch (error) {
      await this._failed(id, error);
    }
    await this.refresh();
  }

  /** Start a push, pull or sync; resolves with the job once it has ended (null if it could not start). */
  async run(
    kind: IWorkspaceJob['kind'],
    open?: string
  ): Promise<IWorkspaceJob | null> {
    const id = this.instanceId;
    if (!id || this.running) {
      return null;
    }
    try {
      const job = await this._api.start(id, kind, open);
      this._error = null;
      this._setJob(job);
    } catch (error) {
      await this._failed(id, error);
      this._changed.emit();
      return null;
    }
    this._changed.emit();
    return this.whenIdle();
  }

  /** Resolves with the job once no job runs. */
  whenIdle(): Promise<IWorkspaceJob | null> {
    if (!this.running) {
      return Promise.resolve(this._job);
    }
    return new Promise(resolve => {
      const check = () => {
        if (!this.running || this._disposed) {
          this._changed.disconnect(check);
          resolve(this._job);
        }
      };
      this._changed.connect(check);
    });
  }

  /** The server's stream is live: no polling then. */
  private get _live(): boolean {
    return this._codelab.connection === 'live';
  }

  /** No stream is open (JupyterLab started with the panel closed): nothing is shown, nothing asked. */
  private get _idle(): boolean {
    return this._codelab.connection === 'idle';
  }

  private _onCodeLab(): void {
    const id = this.instanceId;
    const live = this._live;
    const changed = live !== this._wasLive;
    this._wasLive = live;
    if (id === this._followed) {
      if (id && this._owed && !this._idle) {
        // the panel showed (its stream opens): the look put off at start
        this._loaded = this.refresh();
      } else if (id && changed && live) {
        // the stream (re)opened: what it said while down is lost, so look once
        void (this.running
          ? this._followJob()
          : this.refresh({ waiting: false }));
      } else if (id && changed) {
        // the stream broke: the polls take over, starting now
        void (this.running ? this._jobPoll : this._watchPoll).refresh();
      }
      return;
    }
    this._followed = id;
    this._workspace = null;
    this._job = null;
    this._error = null;
    if (id) {
      // one look now (the poll's first tick comes one interval later), none while nothing is shown
      void this._watchPoll.schedule({
        interval: this._watchPoll.frequency.interval,
        phase: 'started'
      });
      this._owed = this._idle;
      this._loaded = this._idle ? Promise.resolve() : this.refresh();
    } else {
      void this._watchPoll.stop();
      void this._jobPoll.stop();
      this._changed.emit();
    }
  }

  /** `event: workspace`: a job of the followed instance started, moved on or ended. */
  private _onStreamEvent(_: CodeLabModel, event: InstanceStream.IEvent): void {
    const job = event.data as IWorkspaceJob | null;
    if (
      event.type !== 'workspace' ||
      !job ||
      typeof job !== 'object' ||
      typeof job.id !== 'string' ||
      job.instance_id !== this.instanceId
    ) {
      return;
    }
    this._setJob(job);
    if (this._workspace) {
      this._workspace = { ...this._workspace, job };
    }
    this._changed.emit();
  }

  private _set(answer: IWorkspace | null): void {
    this._workspace = answer;
    if (answer?.job !== undefined) {
      this._setJob(answer.job);
    } else if (!answer) {
      this._job = null;
    }
  }

  private _setJob(job: IWorkspaceJob | null): void {
    const previous = this._job;
    if (
      job &&
      previous?.id === job.id &&
      previous.state !== 'running' &&
      job.state === 'running'
    ) {
      return; // an older word on a job the stream already told has ended
    }
    this._job = job;
    if (job && isGuardJob(job)) {
      const key = `${job.id}:${job.state}`;
      if (key !== this._announced) {
        this._announced = key;
        this._guardJob.emit(job);
      }
    }
    if (job?.state === 'running') {
      void this._jobPoll.start();
    } else if (previous?.state === 'running' && job?.id === previous.id) {
      // a job just ended: what waits on each side has changed
      void this._jobPoll.stop();
      void this.refresh();
    }
  }

  private async _followJob(): Promise<void> {
    const id = this.instanceId;
    const job = this._job;
    if (!id || !job || job.state !== 'running') {
      void this._jobPoll.stop();
      return;
    }
    try {
      this._setJob(await this._api.job(id, job.id));
      this._changed.emit();
    } catch (error) {
      await this._failed(id, error);
      this._changed.emit();
    }
  }

  /**
   * A call about instance `id` failed. A 404 may mean the instance is gone (deleted by
   * the cloud, or replaced from another machine): the server is asked which instance the
   * account has now, and if it is another one (or none) the panel says so and follows it,
   * never acting on the old id again.
   */
  private async _failed(id: string, error: unknown): Promise<void> {
    this._error = messageOf(error);
    if (!(error instanceof CodeLabAPIError) || error.status !== 404) {
      return;
    }
    await this._codelab.checkInstance();
    if (this.instanceId !== id) {
      await this._loaded; // the current instance's workspace: said after it, not wiped by it
      const trans = this._translator.load('codelab_ext');
      this._error = trans.__(
        'The CodeLab instance %1 does not exist any more (ModelArts deleted or replaced it): the panel now shows the current one. Try again.',
        id
      );
      this._changed.emit();
    }
  }

  private readonly _codelab: CodeLabModel;
  private readonly _api: IWorkspaceAPI;
  private readonly _translator: ITranslator;
  private readonly _jobPoll: Poll;
  private readonly _watchPoll: Poll;
  private _workspace: IWorkspace | null = null;
  private _job: IWorkspaceJob | null = null;
  private _loading = false;
  private _error: string | null = null;
  private _followed: string | null = null;
  /** The first look at the followed instance's workspace. */
  private _loaded: Promise<void> = Promise.resolve();
  /** The instance arrived while nothing was shown: one look when the panel shows. */
  private _owed = false;
  private _announced = '';
  private _wasLive = false;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
  private _guardJob = new Signal<this, IWorkspaceJob>(this);
}

export namespace WorkspaceModel {
  export interface IOptions {
    codelab: CodeLabModel;
    api: IWorkspaceAPI;
    /** Translates what the model says by itself (the server's messages come translated). */
    translator?: ITranslator;
    /** Milliseconds between two looks at a running job while the event stream is down (default 1 s). */
    jobInterval?: number;
    /** Milliseconds between two looks for the guard's jobs while the event stream is down (default 15 s). */
    watchInterval?: number;
  }
}
