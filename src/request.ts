import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';

import { API_NAMESPACE, IErrorBody } from './tokens';

/**
 * An error answered by the CodeLab server extension (or the network).
 *
 * It is a `ServerConnection.ResponseError`, so code that handles Jupyter
 * server errors handles it too. `message` is readable as is (the server's own
 * message, or a translated explanation); `status` is 0 when the server could
 * not be reached at all.
 */
export class CodeLabAPIError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly body: IErrorBody | null = null
  ) {
    super(response, message);
    this.name = 'CodeLabAPIError';
  }

  /** An error for a request that never reached the server (status 0). */
  static unreachable(message: string): CodeLabAPIError {
    return new CodeLabAPIError(Response.error(), message);
  }

  /** The HTTP status of the answer; 0 when there was none. */
  get status(): number {
    return this.response.status;
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
  /** Cancels the call (it then rejects with the browser's `AbortError`, not a `CodeLabAPIError`). */
  signal?: AbortSignal;
  /** The Jupyter server to call (the application's `serviceManager.serverSettings`). */
  settings: ServerConnection.ISettings;
  /** Translates the messages this module writes itself (default: English). */
  trans?: TranslationBundle;
  /**
   * The panel's language (BCP 47, e.g. `zh-CN`; default `en`), sent as `Accept-Language`:
   * the server answers its own messages in it.
   */
  language?: string;
}

/** The full URL of a CodeLab endpoint, with an optional query string. */
export function apiUrl(
  settings: ServerConnection.ISettings,
  endPoint: string,
  query?: IRequestOptions['query']
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
  endPoint: string,
  options: IRequestOptions
): Promise<T> {
  const { settings } = options;
  const trans = options.trans ?? nullTranslator.load('codelab_ext');
  const url = apiUrl(settings, endPoint, options.query);
  // 'no-cache' (always revalidate) instead of JupyterLab's default 'no-store',
  // which appends a `?<timestamp>` cache buster the server would reject as an
  // unknown query parameter.
  const headers: Record<string, string> = {
    'Accept-Language': options.language || 'en'
  };
  const init: RequestInit = {
    method: options.method ?? 'GET',
    cache: 'no-cache',
    headers
  };
  if (options.signal) {
    init.signal = options.signal;
  }
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if (options.signal?.aborted) {
      throw error;
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw CodeLabAPIError.unreachable(
      trans.__('The Jupyter server could not be reached (%1).', reason)
    );
  }

  const raw = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response, raw, trans);
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
      response,
      trans.__(
        'The server sent an answer that is not JSON (HTTP %1).',
        response.status
      )
    );
  }
}

/** Build a readable error out of a failed answer. */
function errorFromResponse(
  response: Response,
  raw: string,
  trans: TranslationBundle
): CodeLabAPIError {
  let body: IErrorBody | null = null;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed && typeof parsed === 'object') {
      body = parsed as IErrorBody;
    }
  } catch {
    body = null;
  }
  let message = typeof body?.message === 'string' ? body.message.trim() : '';
  if (!message) {
    if (response.status === 404 && !body) {
      message = trans.__(
        'The CodeLab server extension is not available: is codelab_ext enabled on the Jupyter server?'
      );
    } else if (response.status === 401 || response.status === 403) {
      message = trans.__(
        'The Jupyter server refused the request: sign in again.'
      );
    } else {
      message = trans
        .__(
          'The server answered HTTP %1 %2',
          response.status,
          response.statusText
        )
        .trim();
    }
  }
  return new CodeLabAPIError(response, message, body);
}

/**
 * What every client of the server extension's routes shares (`CodeLabClient`, `WorkspaceClient`):
 * the Jupyter server it calls, and one way to call it, with the panel's language and translations.
 */
export abstract class ServerClient {
  constructor(options: ServerClient.IOptions = {}) {
    this.serverSettings =
      options.serverSettings ?? ServerConnection.makeSettings();
    this.translator = options.translator ?? nullTranslator;
  }

  readonly serverSettings: ServerConnection.ISettings;

  /** One call of a route below `{base_url}codelab/` (see `requestAPI`). */
  protected request<T>(
    endPoint: string,
    options: Omit<IRequestOptions, 'settings' | 'trans' | 'language'> = {}
  ): Promise<T> {
    return requestAPI<T>(endPoint, {
      ...options,
      settings: this.serverSettings,
      // the bundle and the language read at each call: JupyterLab may load them after the plugin starts
      trans: this.translator.load('codelab_ext'),
      language: this.language
    });
  }

  /** The display language, sent as `Accept-Language` (the server answers in it). */
  protected get language(): string {
    return this.translator.languageCode || 'en';
  }

  protected readonly translator: ITranslator;
}

export namespace ServerClient {
  export interface IOptions {
    /** The Jupyter server (default: `ServerConnection.makeSettings()`). */
    serverSettings?: ServerConnection.ISettings;
    /** Translates the client's own messages. */
    translator?: ITranslator;
  }
}
