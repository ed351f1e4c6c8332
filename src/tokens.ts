/**
 * Identifiers and data shapes shared by the CodeLab frontend.
 *
 * The JSON shapes mirror the REST API of the server extension
 * (`{base_url}codelab/...`, see codelab_ext/openapi.json). Upstream ModelArts adds fields
 * and enum values over time, so every string enum is open (`| string`).
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';

/** The npm package name; also the prefix of the plugin id. */
export const PLUGIN_ID = 'codelab-ext:plugin';

/** The URL namespace of the server extension, shared with the Python side. */
export const API_NAMESPACE = 'codelab';

/** The id of the sidebar widget (stable: used by the layout restorer). */
export const PANEL_ID = 'codelab-ext-panel';

/** Command ids, all in the `codelab:` namespace. */
export namespace CommandIDs {
  /** Reveal the CodeLab sidebar. */
  export const showPanel = 'codelab:show-panel';
  /** Open CodeLab with the selected (or default) image. */
  export const open = 'codelab:open';
  /** Open CodeLab with a shared notebook URL. */
  export const openShared = 'codelab:open-shared';
  /** Copy the SSH config block of the current instance. */
  export const copySshConfig = 'codelab:copy-ssh-config';
  /** Extend the lease of the current instance. */
  export const extend = 'codelab:extend';
  /** Stop the current instance (asks first). */
  export const stop = 'codelab:stop';
  /** Start the stopped (or failed) instance again. */
  export const start = 'codelab:start';
  /** Open the running instance's JupyterLab in a new browser tab. */
  export const openInstance = 'codelab:open-instance';
  /** Reveal the sign-in form. */
  export const signIn = 'codelab:sign-in';
  /** Install the SSH config of the instance on the Jupyter server's machine. */
  export const installSshConfig = 'codelab:install-ssh-config';
}

/** The palette category of every CodeLab command. */
export const PALETTE_CATEGORY = 'CodeLab';

/** Instance status values (docs/modelarts-api.md). */
export type InstanceStatus =
  | 'INIT'
  | 'CREATING'
  | 'STARTING'
  | 'STOPPING'
  | 'DELETING'
  | 'RUNNING'
  | 'STOPPED'
  | 'SNAPSHOTTING'
  | 'CREATE_FAILED'
  | 'START_FAILED'
  | 'DELETE_FAILED'
  | 'ERROR'
  | 'DELETED'
  | 'FROZEN'
  // eslint-disable-next-line @typescript-eslint/ban-types
  | (string & {});

/**
 * The server's class of an instance status (`status_class` of every instance it sends):
 * `running`; `changing` (on its way up: creating, starting, saving a snapshot, an unknown
 * `...ING`); `stopping` (stopping or deleting); `failed`; `stopped` (any other settled status);
 * `unknown` (no status). The server owns the rule (codelab_ext/models.py `status_class`).
 */
export type StatusClass =
  'running' | 'changing' | 'stopping' | 'failed' | 'stopped' | 'unknown';

/** The processor category of an image, as the server decides it (`category`). */
export type ImageCategory = 'CPU' | 'GPU' | 'ASCEND';

/** The free CodeLab flavor an image runs on, as ModelArts lists it (ListFlavors, feature DEFAULT). */
export interface IFreeFlavor {
  id: string;
  name?: string | null;
  /** ModelArts' own words, e.g. `CPU: 2 vCPUs | 8 GiB (free)`. */
  description?: string | null;
  category?: string | null;
  arch?: string | null;
  vcpus?: number | null;
  /** MiB. */
  memory?: number | null;
  /** True when ModelArts says the flavor has no capacity left. */
  sold_out?: boolean | null;
}

/** Upstream status of one start-up step. */
export type StepStatus =
  | 'WAITING'
  | 'PROCESSING'
  | 'FAILED'
  | 'COMPLETED'
  // eslint-disable-next-line @typescript-eslint/ban-types
  | (string & {});

/** One entry of `action_progress`. */
export interface IStep {
  step: number;
  status: StepStatus;
  description?: string | null;
}

/** The image an instance runs, or an entry of the catalogue. */
export interface IImage {
  id: string;
  name: string;
  tag?: string | null;
  description?: string | null;
  type?: string | null;
  arch?: string | null;
  resource_categories?: string[] | null;
  dev_services?: string[] | null;
  status?: string | null;
  swr_path?: string | null;
  /** The group the image is listed in (the server's `image_category`). */
  category?: ImageCategory | null;
  /**
   * In `GET images`: the free flavor an instance of this image runs on, null when ModelArts
   * lists none for it (absent when the flavors could not be read).
   */
  free_flavor?: IFreeFlavor | null;
  /** In `GET images`: the image `POST open` opens when it names none (the server's choice). */
  default?: boolean;
}

/** The lease (auto-stop timer) of an instance. */
export interface ILease {
  create_at?: number | null;
  duration?: number | null;
  enable?: boolean | null;
  type?: string | null;
  update_at?: number | null;
  /** Epoch milliseconds at which the instance stops. */
  expires_at?: number | null;
  /** Milliseconds left when the server answered. */
  remaining_ms?: number | null;
}

/** The SSH endpoint of an instance. */
export interface ISshEndpoint {
  host: string;
  port: number;
  user?: string | null;
  key_pair_names?: string[] | null;
  uri?: string | null;
}

/** A CodeLab instance, normalised by the server. */
export interface IInstance {
  id: string;
  name?: string | null;
  status: InstanceStatus;
  feature?: string | null;
  flavor?: string | null;
  description?: string | null;
  fail_reason?: string | null;
  url?: string | null;
  token?: string | null;
  workspace_id?: string | null;
  create_at?: number | null;
  update_at?: number | null;
  image?: IImage | null;
  action_progress?: IStep[] | null;
  lease?: ILease | null;
  ssh?: ISshEndpoint | null;
  /** The one-line ssh command, rendered by the server (`jupyter codelab ssh-config`'s rules). */
  ssh_command?: string | null;
  /** The server's class of the status (the panel never classes statuses itself). */
  status_class: StatusClass;
  endpoints?: unknown[] | null;
  volume?: Record<string, unknown> | null;
}

/** The answer of `POST open`: the instance plus the URL actually sent. */
export interface IOpenResult extends IInstance {
  share_url?: string | null;
}

/** Where the server found its credentials. */
export interface ICredentialsStatus {
  configured: boolean;
  source: string | null;
  access_key: string | null;
  /** Why a configured source could not be used (e.g. a half-filled profile). */
  error?: string | null;
}

/** The answer of `GET status`. */
export interface IServerStatus {
  version: string;
  region: string;
  project_id: string | null;
  modelarts_endpoint: string;
  emulator: boolean;
  /** True when the embedded emulator runs and its demo account is the one in use. */
  demo_account?: boolean;
  credentials: ICredentialsStatus;
  /** The regions a user may sign in to (any other is refused with 400). */
  regions?: string[];
  /** The lease rule the server enforces (`PATCH instances/{id}/lease`). */
  lease?: ILeaseBounds;
}

/** How long a free instance runs: what it gets on start, the shortest and longest lease. */
export interface ILeaseBounds {
  default_ms: number;
  min_ms: number;
  max_ms: number;
}

/** The answer of `GET share-url`: what `POST open` would send to ModelArts. */
export interface ISharePreview {
  share_url: string;
  /** True when a code host's page URL becomes its raw file. */
  converted: boolean;
  looks_like_notebook: boolean;
}

/** The body of `PUT credentials`. */
export interface ICredentialsInput {
  access_key: string;
  secret_key: string;
  security_token?: string;
  project_id?: string;
  region?: string;
}

/** The body of `POST open`. */
export interface IOpenRequest {
  image_id?: string;
  share_url?: string;
  switch?: boolean;
  /** With `switch`: do not wait for the linked folder's changes (they stay on the instance). */
  leave_files?: boolean;
}

/** Query of `GET images`. */
export interface IImageQuery {
  type?: string;
  name?: string;
  arch?: string;
  category?: string;
}

/** Query of `GET instances/{id}/ssh-config`. */
export interface ISshConfigQuery {
  alias?: string;
  identity_file?: string;
}

/** The answer of `POST instances/{id}/ssh-config/install`. */
export interface ISshInstallResult {
  id: string;
  /** The `Host` installed (`codelab-<region>` unless another was asked for). */
  alias: string;
  /** The block written, as `GET ssh-config` renders it. */
  block: string;
  /** The managed file written on the server's machine. */
  installed: string;
  /** The command that logs in now: `ssh <alias>`. */
  command: string;
}

/** An error body of the server extension. */
export interface IErrorBody {
  message?: string;
  code?: string;
  request_id?: string;
  instance?: IInstance;
  /** With a 409 of `PATCH lease`: the lease the instance has now (it would be shortened). */
  lease?: ILease;
  /** With a 409 `codelab.files_not_home`: the files changed on the instance and not pulled back. */
  files?: string[];
  files_count?: number;
}

/** The user settings of the plugin (schema/plugin.json). */
export interface ICodeLabSettings {
  defaultImage: string;
  identityFile: string;
  warningMinutes: number;
}

export const DEFAULT_SETTINGS: ICodeLabSettings = {
  defaultImage: '',
  identityFile: '',
  warningMinutes: 10
};

/* ------------------------------------------------------ the model's token */

/** How the panel receives instance updates. */
export type ConnectionState = 'idle' | 'connecting' | 'live' | 'polling';

/** Where the SSH config block of the running instance is. */
export type SshState = 'none' | 'loading' | 'ready' | 'unavailable' | 'error';

/** Something the user should hear about even with the panel closed. */
export interface ICodeLabNotice {
  kind: 'ready' | 'failed' | 'expiring' | 'stopped';
  instance: IInstance;
  /** For `expiring`: milliseconds left. */
  remainingMs?: number;
}

/**
 * The CodeLab model, as other plugins see it: the account, the current
 * instance and what can be done with it.
 *
 * `stateChanged` fires when something shown changes (never on its own every
 * second); `tick` fires every second while a countdown or an elapsed time runs,
 * for the few views that show one.
 */
export interface ICodeLabModel {
  /** Anything shown by the panel changed. */
  readonly stateChanged: ISignal<ICodeLabModel, void>;
  /** Once a second while the lease counts down or the instance is starting. */
  readonly tick: ISignal<ICodeLabModel, void>;
  /** The current instance was replaced, updated or forgotten (null). */
  readonly instanceChanged: ISignal<ICodeLabModel, IInstance | null>;
  /** Ready, failed, expiring, stopped. */
  readonly notice: ISignal<ICodeLabModel, ICodeLabNotice>;

  readonly status: IServerStatus | null;
  readonly signedIn: boolean;
  readonly images: IImage[];
  readonly selectedImage: IImage | null;
  /** The free instance of the account, as the server last described it. */
  readonly instance: IInstance | null;
  readonly connection: ConnectionState;
  readonly isRunning: boolean;
  readonly isTransitional: boolean;
  readonly isFailed: boolean;
  /** Epoch ms at which the running instance stops, if it is counting down. */
  readonly deadline: number | null;
  /** Milliseconds left before the instance stops, if it is counting down. */
  readonly remainingMs: number | null;
  readonly sshConfig: string | null;
  readonly sshCommand: string | null;

  /** Load status, images and the current instance. */
  refresh(): Promise<void>;
  /** Prefill the shared notebook URL and the image; never starts anything. */
  prefill(options: { shareUrl?: string | null; imageId?: string | null }): void;
  /** Open CodeLab with the selected image and shared URL. */
  open(): Promise<boolean>;
  start(): Promise<void>;
  /** Stop the instance (the caller asks the user first). */
  stop(): Promise<void>;
  /** Keep the instance running for `hours` from now. */
  extend(hours: number): Promise<boolean>;
}

/** The CodeLab model, provided by the `codelab-ext:plugin` plugin. */
export const ICodeLabModel = new Token<ICodeLabModel>(
  'codelab-ext:ICodeLabModel',
  'The CodeLab model: the ModelArts account, the current CodeLab instance, its lease and its live updates.'
);
