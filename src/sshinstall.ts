/**
 * The Install SSH config action: asks the server to install the managed block
 * (`POST instances/{id}/ssh-config/install`) and remembers its answer for the
 * SSH block of the panel. The server renders and writes everything; this only
 * carries its answer.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ISshInstallResult } from './tokens';

type InstallCall = (
  id: string,
  body: { identity_file?: string }
) => Promise<ISshInstallResult>;

export class SshInstaller {
  constructor(private readonly _install: InstallCall) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }
  get installing(): boolean {
    return this._installing;
  }
  /** The server's answer for `instanceId`, if the config was installed for it. */
  result(instanceId: string | null | undefined): ISshInstallResult | null {
    return instanceId && this._result?.id === instanceId ? this._result : null;
  }
  get error(): string | null {
    return this._error;
  }

  /** Install for `instanceId` with the identity file typed in the panel; true when done. */
  async install(instanceId: string, identityFile: string): Promise<boolean> {
    if (this._installing) {
      return false;
    }
    this._installing = true;
    this._error = null;
    this._changed.emit();
    try {
      const identity = identityFile.trim();
      this._result = await this._install(
        instanceId,
        identity ? { identity_file: identity } : {}
      );
      return true;
    } catch (error) {
      this._error = error instanceof Error ? error.message : String(error);
      return false;
    } finally {
      this._installing = false;
      this._changed.emit();
    }
  }

  dispose(): void {
    Signal.clearData(this);
  }

  private _changed = new Signal<this, void>(this);
  private _installing = false;
  private _result: ISshInstallResult | null = null;
  private _error: string | null = null;
}
