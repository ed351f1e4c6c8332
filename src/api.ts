/**
 * Typed wrappers of the REST API of the server extension (design.md §3).
 * Widgets and the model call these, never `fetch`.
 */
import { requestAPI } from './request';
import {
  ICredentialsInput,
  IImage,
  IImageQuery,
  IInstance,
  ILease,
  IOpenRequest,
  IOpenResult,
  IServerStatus,
  ISshConfigQuery
} from './tokens';

function instancePath(id: string, action = ''): string {
  const base = `instances/${encodeURIComponent(id)}`;
  return action ? `${base}/${action}` : base;
}

export const CodeLabAPI = {
  /** Version, region, endpoint and credential source of the server. */
  status(): Promise<IServerStatus> {
    return requestAPI<IServerStatus>('status');
  },

  /** Check and store credentials; answers the new status. */
  signIn(credentials: ICredentialsInput): Promise<IServerStatus> {
    return requestAPI<IServerStatus>('credentials', {
      method: 'PUT',
      body: credentials
    });
  },

  /** Forget the credentials stored by the extension. */
  signOut(): Promise<void> {
    return requestAPI<void>('credentials', { method: 'DELETE' });
  },

  /** The image catalogue. */
  async images(query: IImageQuery = {}): Promise<IImage[]> {
    const answer = await requestAPI<{ images: IImage[] }>('images', {
      query: { ...query }
    });
    return answer?.images ?? [];
  },

  /** Open (create or start) the free CodeLab instance. 409 when a switch needs consent. */
  open(request: IOpenRequest): Promise<IOpenResult> {
    return requestAPI<IOpenResult>('open', { method: 'POST', body: request });
  },

  /** The free CodeLab instances of the account. */
  async instances(): Promise<IInstance[]> {
    const answer = await requestAPI<{ instances: IInstance[] }>('instances');
    return answer?.instances ?? [];
  },

  instance(id: string): Promise<IInstance> {
    return requestAPI<IInstance>(instancePath(id));
  },

  start(id: string): Promise<IInstance> {
    return requestAPI<IInstance>(instancePath(id, 'start'), { method: 'POST' });
  },

  stop(id: string): Promise<IInstance> {
    return requestAPI<IInstance>(instancePath(id, 'stop'), { method: 'POST' });
  },

  /** Set the lease duration (milliseconds from the lease start). */
  extend(id: string, durationMs: number): Promise<ILease> {
    return requestAPI<ILease>(instancePath(id, 'lease'), {
      method: 'PATCH',
      body: { duration_ms: durationMs }
    });
  },

  /** The SSH config block (text); 404 when the instance has no SSH endpoint. */
  sshConfig(id: string, query: ISshConfigQuery = {}): Promise<string> {
    return requestAPI<string>(instancePath(id, 'ssh-config'), {
      query: { ...query },
      text: true
    });
  },

  /** The path of the SSE stream of an instance (below the API namespace). */
  eventsPath(id: string): string {
    return instancePath(id, 'events');
  }
};

export type ICodeLabAPI = typeof CodeLabAPI;
