/**
 * The workspace routes of the server extension (`codelab/instances/{id}/workspace`,
 * codelab_ext/openapi.json): typed shapes and one method per route. The
 * transfers run on the Jupyter server; the browser never holds the instance token.
 */
import { ServerClient } from '../request';
import { IErrorBody } from '../tokens';

/** What a push, pull or sync did (the CLI's `--json`). */
export interface ISyncResult {
  pushed: string[];
  pulled: string[];
  conflicts: { path: string; copy: string }[];
  skipped: { path: string; reason: string }[];
  deleted?: string[];
  ok?: boolean;
  transport?: string;
}

/** How far a job is. */
export interface IWorkspaceProgress {
  phase?: 'scan' | 'transfer' | 'verify' | 'done';
  path?: string | null;
  files_done?: number;
  files_total?: number;
  bytes_done?: number;
  bytes_total?: number;
}

/** Who started a job: the user, or the lease guard (before a Stop, a switch, the lease's end). */
export type WorkspaceTrigger = 'user' | 'open' | 'stop' | 'switch' | 'lease';

/** One push, pull or sync run by the server. */
export interface IWorkspaceJob {
  id: string;
  instance_id: string;
  kind: 'push' | 'pull' | 'sync';
  trigger: WorkspaceTrigger;
  state: 'running' | 'done' | 'failed';
  started_at: number;
  finished_at: number | null;
  progress: IWorkspaceProgress;
  result: ISyncResult | null;
  error: IErrorBody | null;
  not_home: string[] | null;
  open_url: string | null;
}

/** A local folder linked to a folder of the instance. */
export interface IWorkspaceLink {
  id: string;
  instance_id: string;
  /** Relative to the Jupyter root ('' is the root); null when outside it. */
  local: string | null;
  local_path: string;
  remote: string;
  created_at: number | null;
  /** Epoch ms of the last push, pull or sync. */
  last_sync: number | null;
  last_result: ISyncResult | null;
}

/** `GET …/workspace`. */
export interface IWorkspace {
  instance_id: string;
  link: IWorkspaceLink | null;
  waiting: { local: string[]; remote: string[]; conflicts: string[] } | null;
  waiting_error: string | null;
  job: IWorkspaceJob | null;
  pull_before_stop: boolean;
}

/** The body of a 409 `codelab.files_not_home` (Stop or switch refused until asked again). */
export interface IFilesNotHome extends IErrorBody {
  files?: string[];
  files_count?: number;
  job?: IWorkspaceJob | null;
}

/** The error code of a Stop or switch whose pull did not finish. */
export const FILES_NOT_HOME = 'codelab.files_not_home';

/** The calls the workspace model makes (tests give it another implementation). */
export interface IWorkspaceAPI {
  /** `waiting: false`: the link and the newest job only (no call to the instance). */
  get(id: string, waiting?: boolean): Promise<IWorkspace>;
  link(id: string, local: string, remote?: string): Promise<IWorkspace>;
  unlink(id: string): Promise<void>;
  start(
    id: string,
    kind: IWorkspaceJob['kind'],
    open?: string
  ): Promise<IWorkspaceJob>;
  job(id: string, jobId: string): Promise<IWorkspaceJob>;
}

function workspacePath(id: string, rest = ''): string {
  const base = `instances/${encodeURIComponent(id)}/workspace`;
  return rest ? `${base}/${rest}` : base;
}

/** The workspace routes on one Jupyter server. */
export class WorkspaceClient extends ServerClient implements IWorkspaceAPI {
  get(id: string, waiting = true): Promise<IWorkspace> {
    return this.request<IWorkspace>(workspacePath(id), {
      query: { waiting: waiting ? undefined : '0' }
    });
  }

  link(id: string, local: string, remote?: string): Promise<IWorkspace> {
    return this.request<IWorkspace>(workspacePath(id), {
      method: 'PUT',
      body: remote ? { local, remote } : { local }
    });
  }

  unlink(id: string): Promise<void> {
    return this.request<void>(workspacePath(id), { method: 'DELETE' });
  }

  async start(
    id: string,
    kind: IWorkspaceJob['kind'],
    open?: string
  ): Promise<IWorkspaceJob> {
    const answer = await this.request<{ job: IWorkspaceJob }>(
      workspacePath(id, kind),
      { method: 'POST', body: open ? { open } : {} }
    );
    return answer.job;
  }

  async job(id: string, jobId: string): Promise<IWorkspaceJob> {
    const answer = await this.request<{ job: IWorkspaceJob }>(
      workspacePath(id, `jobs/${encodeURIComponent(jobId)}`)
    );
    return answer.job;
  }
}

export namespace WorkspaceClient {
  export type IOptions = ServerClient.IOptions;
}
