/**
 * Typed wrappers of the REST API of the server extension (codelab_ext/openapi.json).
 * The model calls these, never `fetch`; components call the model.
 */
import { apiUrl, ServerClient } from './request';
import {
  ICredentialsInput,
  IImage,
  IImageQuery,
  IInstance,
  ILease,
  IOpenRequest,
  IOpenResult,
  IServerStatus,
  ISharePreview,
  ISshConfigQuery,
  ISshInstallResult
} from './tokens';

function instancePath(id: string, action = ''): string {
  const base = `instances/${encodeURIComponent(id)}`;
  return action ? `${base}/${action}` : base;
}

/** The calls the model makes (a test can give the model another implementation). */
export interface ICodeLabAPI {
  /** Version, region, endpoint and credential source of the server. */
  status(): Promise<IServerStatus>;
  /** Check and store credentials; answers the new status. */
  signIn(credentials: ICredentialsInput): Promise<IServerStatus>;
  /** Forget the credentials stored by the extension. */
  signOut(): Promise<void>;
  /** With the embedded emulator only: store its demo account again. */
  useDemoAccount(): Promise<IServerStatus>;
  /** The image catalogue. */
  images(query?: IImageQuery): Promise<IImage[]>;
  /**
   * What `open` would send to ModelArts for a shared notebook URL (400 with the server's message
   * when it would be refused). `signal` cancels it.
   */
  sharePreview(url: string, signal?: AbortSignal): Promise<ISharePreview>;
  /** Open (create or start) the free CodeLab instance. 409 when a switch needs consent. */
  open(request: IOpenRequest): Promise<IOpenResult>;
  /** The free CodeLab instances of the account. */
  instances(): Promise<IInstance[]>;
  instance(id: string): Promise<IInstance>;
  start(id: string): Promise<IInstance>;
  /** `leaveFiles`: stop even though the linked folder's changes could not be pulled back. */
  stop(id: string, leaveFiles?: boolean): Promise<IInstance>;
  /** Set the lease duration; `shorten` confirms one that ends sooner (else 409). */
  extend(id: string, durationMs: number, shorten?: boolean): Promise<ILease>;
  /** The SSH config block (text); 404 when the instance has no SSH endpoint. */
  sshConfig(id: string, query?: ISshConfigQuery): Promise<string>;
  /** The one-line ssh command the server renders for another identity file. */
  sshCommand(
    id: string,
    identityFile: string
  ): Promise<{ ssh_command: string | null }>;
  /** Install the SSH config on the Jupyter server's machine (`ssh-config --install`). */
  installSshConfig(
    id: string,
    body?: ISshConfigQuery
  ): Promise<ISshInstallResult>;
  /** The URL of the SSE stream of an instance (with `?token=` when the server uses one). */
  eventsUrl(id: string): string;
}

/** The REST API of the server extension on one Jupyter server. */
export class CodeLabClient extends ServerClient implements ICodeLabAPI {
  status(): Promise<IServerStatus> {
    return this.request<IServerStatus>('status');
  }

  signIn(credentials: ICredentialsInput): Promise<IServerStatus> {
    return this.request<IServerStatus>('credentials', {
      method: 'PUT',
      body: credentials
    });
  }

  useDemoAccount(): Promise<IServerStatus> {
    return this.request<IServerStatus>('credentials/demo', {
      method: 'POST'
    });
  }

  signOut(): Promise<void> {
    return this.request<void>('credentials', { method: 'DELETE' });
  }

  async images(query: IImageQuery = {}): Promise<IImage[]> {
    const answer = await this.request<{ images: IImage[] }>('images', {
      query: { ...query }
    });
    return answer?.images ?? [];
  }

  sharePreview(url: string, signal?: AbortSignal): Promise<ISharePreview> {
    return this.request<ISharePreview>('share-url', {
      query: { url },
      signal
    });
  }

  open(request: IOpenRequest): Promise<IOpenResult> {
    return this.request<IOpenResult>('open', {
      method: 'POST',
      body: request
    });
  }

  async instances(): Promise<IInstance[]> {
    const answer = await this.request<{ instances: IInstance[] }>('instances');
    return answer?.instances ?? [];
  }

  instance(id: string): Promise<IInstance> {
    return this.request<IInstance>(instancePath(id));
  }

  start(id: string): Promise<IInstance> {
    return this.request<IInstance>(instancePath(id, 'start'), {
      method: 'POST'
    });
  }

  stop(id: string, leaveFiles = false): Promise<IInstance> {
    return this.request<IInstance>(instancePath(id, 'stop'), {
      method: 'POST',
      body: leaveFiles ? { leave_files: true } : undefined
    });
  }

  extend(id: string, durationMs: number, shorten = false): Promise<ILease> {
    return this.request<ILease>(instancePath(id, 'lease'), {
      method: 'PATCH',
      body: shorten
        ? { duration_ms: durationMs, shorten: true }
        : { duration_ms: durationMs }
    });
  }

  sshConfig(id: string, query: ISshConfigQuery = {}): Promise<string> {
    return this.request<string>(instancePath(id, 'ssh-config'), {
      query: { ...query },
      text: true
    });
  }

  sshCommand(
    id: string,
    identityFile: string
  ): Promise<{ ssh_command: string | null }> {
    return this.request<{ ssh_command: string | null }>(
      instancePath(id, 'ssh-command'),
      { query: { identity_file: identityFile } }
    );
  }

  installSshConfig(
    id: string,
    body: ISshConfigQuery = {}
  ): Promise<ISshInstallResult> {
    return this.request<ISshInstallResult>(
      instancePath(id, 'ssh-config/install'),
      { method: 'POST', body: { ...body } }
    );
  }

  eventsUrl(id: string): string {
    // EventSource cannot send headers: the token and the panel's language (in which the
    // server writes its error events) go in the query.
    return apiUrl(this.serverSettings, instancePath(id, 'events'), {
      token: this.serverSettings.token || undefined,
      lang: this.language
    });
  }
}

export namespace CodeLabClient {
  export type IOptions = ServerClient.IOptions;
}
