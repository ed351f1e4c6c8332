import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_NAMESPACE, IErrorBody } from './tokens';

/**
 * An error answered by the CodeLab server extension (or the network).
 *
 * `message` is readable as is; `status` is 0 when the server could not be
 * reached at all.
 */
export class CodeLabAPIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: IErrorBody | null = null
  ) {
    super(message);
    this.name = 'CodeLabAPIError';
  }

  /** The upstream error code, if any (e.g. `ModelArts.6309`). */
  get code(): string | undefined {
    return this.body?.code;
  }

  /** The upstream request id, useful in a support ticket. */
  get requestId(): string | undefined {
    return this.body?.request_id;
  }
}

/** Options of one API call. */
export interface IRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** JSON body; serialised for you. */
  body?: unknown;
  /** Query parameters; empty values are left out. */
  query?: Record<string, string | number | undefined | null>;
  /** Read the answer as text instead of JSON. */
  text?: boolean;
  /** Override the server settings (tests). */
  settings?: ServerConnection.ISettings;
}

let defaultSettings: ServerConnection.ISettings | null = null;

/** Use the server settings of the running application (set once by the plugin). */
export function setServerSettings(settings: ServerConnection.ISettings): void {
  defaultSettings = settings;
}

/** The server settings every call uses. */
export function getServerSettings(): ServerConnection.ISettings {
  if (!defaultSettings) {
    defaultSettings = ServerConnection.makeSettings();
  }
  return defaultSettings;
}

/** The full URL of a CodeLab endpoint, with an optional query string. */
export function apiUrl(
  endPoint: string,
  query?: IRequestOptions['query'],
  settings: ServerConnection.ISettings = getServerSettings()
): string {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== '') {
      params.set(key, String(value));
    }
  }
  const search = params.toString();
  return search ? `${url}?${search}` : url;
}

/**
 * Call the CodeLab server extension.
 *
 * @param endPoint the route below `{base_url}codelab/`, e.g. `instances/abc`
 * @returns the decoded JSON answer (`undefined` for 204), or the text when asked
 * @throws CodeLabAPIError with the server's `message` when the call fails
 */
export async function requestAPI<T>(
  endPoint = '',
  options: IRequestOptions = {}
): Promise<T> {
  const settings = options.settings ?? getServerSettings();
  const url = apiUrl(endPoint, options.query, settings);
  // 'no-cache' (always revalidate) instead of JupyterLab's default 'no-store',
  // which appends a `?<timestamp>` cache buster the server would reject as an
  // unknown query parameter.
  const init: RequestInit = {
    method: options.method ?? 'GET',
    cache: 'no-cache'
  };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { 'Content-Type': 'application/json' };
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CodeLabAPIError(
      `The Jupyter server could not be reached (${reason}).`,
      0
    );
  }

  const raw = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response, raw);
  }
  if (options.text) {
    return raw as unknown as T;
  }
  if (response.status === 204 || raw.trim() === '') {
    return undefined as unknown as T;
  }
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new CodeLabAPIError(
      `The server sent an answer that is not JSON (HTTP ${response.status}).`,
      response.status
    );
  }
}

/** Build a readable error out of a failed answer. */
function errorFromResponse(response: Response, raw: string): CodeLabAPIError {
  let body: IErrorBody | null = null;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed && typeof parsed === 'object') {
      body = parsed as IErrorBody;
    }
  } catch {
    body = null;
  }
  let message = body?.message?.trim();
  if (!message) {
    if (response.status === 404 && !body) {
      message =
        'The CodeLab server extension is not available: is codelab_ext enabled on the Jupyter server?';
    } else if (response.status === 401 || response.status === 403) {
      message = 'The Jupyter server refused the request: sign in again.';
    } else {
      message =
        `The server answered HTTP ${response.status} ${response.statusText}`.trim();
    }
  }
  return new CodeLabAPIError(message, response.status, body);
}
