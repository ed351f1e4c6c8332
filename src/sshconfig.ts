/**
 * The SSH config block of the running instance, as the server renders it
 * (`GET instances/{id}/ssh-config`): fetched once per instance, endpoint and
 * identity file, and again on demand after an error.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ICodeLabAPI } from './api';
import { CodeLabAPIError } from './request';
import { messageOf } from './stream';
import { IInstance, SshState } from './tokens';

export class SshConfigLoader {
  constructor(private readonly _api: ICodeLabAPI) {}

  /** Emitted when an answer (or a failure) arrives. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get state(): SshState {
    return this._state;
  }
  get config(): string | null {
    return this._config;
  }
  /** The one-line ssh command the server renders for the same identity file. */
  get command(): string | null {
    return this._command;
  }
  get error(): string | null {
    return this._error;
  }

  /**
   * Follow the instance: fetch the block when it runs with an SSH endpoint and
   * something it depends on changed. Synchronous changes are not signalled (the
   * caller signals its own change).
   */
  update(instance: IInstance | null, identityFile: string): void {
    if (!instance || instance.status !== 'RUNNING') {
      this._set('none');
      return;
    }
    if (!instance.ssh) {
      this._set('unavailable');
      return;
    }
    const identity = identityFile.trim();
    const key = `${instance.id}|${instance.ssh.host}|${instance.ssh.port}|${identity}`;
    if (key === this._key) {
      return;
    }
    this._key = key;
    this._state = 'loading';
    this._error = null;
    // the command as the server renders it: in the instance, or for the typed identity file
    const command: Promise<string | null> = identity
      ? this._api
          .sshCommand(instance.id, identity)
          .then(answer => answer.ssh_command ?? null)
      : Promise.resolve(instance.ssh_command ?? null);
    Promise.all([
      this._api.sshConfig(instance.id, {
        // no alias: the server's default (codelab-<region>), as `jupyter codelab ssh-config`
        identity_file: identity || undefined
      }),
      command
    ])
      .then(([text, line]) => {
        if (this._key === key) {
          this._state = 'ready';
          this._config = text;
          this._command = line;
          this._changed.emit();
        }
      })
      .catch(error => {
        if (this._key !== key) {
          return;
        }
        if (error instanceof CodeLabAPIError && error.status === 404) {
          this._set('unavailable');
        } else {
          this._set('error', messageOf(error));
        }
        this._changed.emit();
      });
  }

  /** Forget the last answer so the next `update` fetches again. */
  reset(): void {
    this._key = null;
  }

  dispose(): void {
    this._key = null;
    Signal.clearData(this);
  }

  private _set(state: SshState, error: string | null = null): void {
    this._state = state;
    this._config = null;
    this._command = null;
    this._error = error;
    this._key = null;
  }

  private _changed = new Signal<this, void>(this);
  private _key: string | null = null;
  private _state: SshState = 'none';
  private _config: string | null = null;
  private _command: string | null = null;
  private _error: string | null = null;
}
