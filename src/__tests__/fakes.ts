/**
 * Test doubles at the two I/O boundaries of the frontend: the HTTP requests
 * (a fake `fetch` given to ServerConnection) and the browser's EventSource.
 */
import { ServerConnection } from '@jupyterlab/services';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';

import type { IPanelActions } from '../components/CodeLabSidebar';
import { CodeLabModel, ICodeLabModelOptions } from '../model';
import { IEventSourceLike } from '../stream';
import { IImage, IInstance, IServerStatus } from '../tokens';

export const IMAGES: IImage[] = [
  {
    id: 'gpu-1',
    category: 'GPU',
    name: 'pytorch1.8-cuda10.2-cudnn7-ubuntu18.04',
    tag: '2.0.0',
    arch: 'X86_64',
    resource_categories: ['GPU'],
    dev_services: ['NOTEBOOK', 'SSH']
  },
  {
    id: 'cpu-default',
    category: 'CPU',
    default: true,
    name: 'notebook2.0-mul-kernel-cpu-cp36',
    tag: '3.3.2',
    arch: 'x86_64',
    resource_categories: ['CPU'],
    dev_services: ['NOTEBOOK', 'SSH']
  },
  {
    id: 'ascend-1',
    category: 'ASCEND',
    name: 'mindspore1.7-cann5.1-aarch64',
    tag: '1.0',
    arch: 'AARCH64',
    resource_categories: ['ASCEND'],
    dev_services: ['NOTEBOOK']
  },
  {
    id: 'cpu-2',
    category: 'CPU',
    name: 'conda3-ubuntu18.04',
    tag: '1.0',
    arch: 'aarch64',
    resource_categories: ['CPU'],
    dev_services: ['NOTEBOOK']
  }
];

export function status(configured = true): IServerStatus {
  return {
    version: '0.1.0',
    region: 'cn-north-4',
    project_id: 'p1',
    modelarts_endpoint: 'http://127.0.0.1:1',
    emulator: true,
    credentials: {
      configured,
      source: configured ? 'stored' : '',
      access_key: configured ? 'AKAB****WXYZ' : null
    },
    regions: ['af-north-1', 'ap-southeast-1', 'cn-east-3', 'cn-north-4']
  };
}

export function instance(overrides: Partial<IInstance> = {}): IInstance {
  return {
    id: 'i-1',
    name: 'codelab-free',
    status: 'CREATING',
    status_class: 'changing',
    flavor: 'modelarts.vm.cpu.free',
    url: 'https://authoring.example/i-1/lab',
    image: IMAGES[1],
    action_progress: [
      { step: 1, status: 'PROCESSING', description: 'storage' },
      { step: 2, status: 'WAITING' },
      { step: 3, status: 'WAITING' },
      { step: 4, status: 'WAITING' }
    ],
    lease: null,
    ssh: null,
    ...overrides
  };
}

/** A running instance with a lease ending `remainingMs` after `now`. */
export function running(now: number, remainingMs: number): IInstance {
  return instance({
    status: 'RUNNING',
    status_class: 'running',
    action_progress: [1, 2, 3, 4].map(step => ({
      step,
      status: 'COMPLETED'
    })),
    lease: {
      create_at: now - 1000,
      duration: remainingMs + 1000,
      enable: true,
      type: 'TIMING'
    },
    ssh: { host: 'dev.example.com', port: 31022, user: 'ma-user' }
  });
}

export interface IRecordedCall {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The request's signal: aborted when the caller cancelled it. */
  signal: AbortSignal;
}

/** What a route answers; `after`: the answer waits for it (a cancelled request then fails as fetch does). */
type Handler = (call: IRecordedCall) => {
  status: number;
  body?: unknown;
  after?: Promise<void>;
};

/** Wait for `after` unless `signal` aborts first (then reject with an AbortError, as fetch does). */
function abortable(after: Promise<void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => reject(new DOMException('Aborted', 'AbortError'));
    if (signal.aborted) {
      abort();
      return;
    }
    signal.addEventListener('abort', abort);
    void after.then(resolve);
  });
}

/** A fake Jupyter server: route handlers keyed by `METHOD path`. */
export class FakeServer {
  calls: IRecordedCall[] = [];
  routes = new Map<string, Handler>();
  /** When set, every request fails as if the server were down. */
  down = false;
  /** Every request tried, answered or not. */
  attempts = 0;

  constructor() {
    this.on('GET status', () => ({ status: 200, body: status() }));
    this.on('GET images', () => ({ status: 200, body: { images: IMAGES } }));
    this.on('GET instances', () => ({ status: 200, body: { instances: [] } }));
  }

  on(route: string, handler: Handler): this {
    this.routes.set(route, handler);
    return this;
  }

  /** Calls whose `METHOD path` is `route`. */
  callsTo(route: string): IRecordedCall[] {
    return this.calls.filter(c => `${c.method} ${c.path}` === route);
  }

  /** A CodeLab model on this server, its instances' event streams FakeEventSources. */
  model(options: Partial<ICodeLabModelOptions> = {}): CodeLabModel {
    return new CodeLabModel({
      serverSettings: this.settings(),
      createEventSource: url => new FakeEventSource(url),
      ...options
    });
  }

  /** Server settings whose requests this fake answers (give them to the model). */
  settings(): ServerConnection.ISettings {
    return ServerConnection.makeSettings({
      baseUrl: 'http://localhost/lab-base/',
      fetch: (input: RequestInfo | URL, init?: RequestInit) =>
        this.handle(new Request(input as RequestInfo, init))
    });
  }

  private async handle(request: Request): Promise<Response> {
    this.attempts++;
    if (this.down) {
      throw new TypeError('Failed to fetch');
    }
    const parsed = new URL(request.url);
    const path = parsed.pathname.replace(/^\/lab-base\/codelab\//, '');
    const sent = await request.text();
    const call: IRecordedCall = {
      method: request.method.toUpperCase(),
      path,
      query: parsed.searchParams,
      body: sent ? JSON.parse(sent) : undefined,
      signal: request.signal
    };
    this.calls.push(call);
    const handler = this.routes.get(`${call.method} ${path}`);
    if (!handler) {
      return new Response(JSON.stringify({ message: `no route ${path}` }), {
        status: 404
      });
    }
    const answer = handler(call);
    if (answer.after) {
      await abortable(answer.after, request.signal);
    }
    if (answer.status === 204) {
      return new Response(null, { status: 204 });
    }
    const text =
      typeof answer.body === 'string'
        ? answer.body
        : JSON.stringify(answer.body ?? {});
    return new Response(text, { status: answer.status });
  }
}

/** A controllable EventSource. */
export class FakeEventSource implements IEventSourceLike {
  static instances: FakeEventSource[] = [];
  static latest(): FakeEventSource {
    return FakeEventSource.instances[FakeEventSource.instances.length - 1];
  }

  onopen: ((event: Event) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  closed = false;
  private listeners = new Map<string, ((event: MessageEvent) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, listener: (event: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.onopen?.(new Event('open'));
  }

  listenersOf(type: string): ((event: MessageEvent) => void)[] {
    return this.listeners.get(type) ?? [];
  }

  send(type: string, data: unknown): void {
    const event = new MessageEvent(type, { data: JSON.stringify(data) });
    for (const listener of this.listeners.get(type) ?? []) {
      listener(event);
    }
  }

  fail(): void {
    this.onerror?.(new Event('error'));
  }
}

/**
 * A translator in another language: `__('Text %1', x)` gives `[zh-CN] Text x`, so a test sees
 * which strings went through the bundle.
 */
export function fakeTranslator(languageCode: string): ITranslator {
  const fill = (text: string, args: unknown[]) =>
    `[${languageCode}] ` +
    text.replace(/%(\d+)/g, (_, i: string) => String(args[Number(i) - 1]));
  const bundle = {
    __: (text: string, ...args: unknown[]) => fill(text, args),
    _n: (one: string, many: string, n: number, ...args: unknown[]) =>
      fill(n === 1 ? one : many, [n, ...args]),
    _p: (_context: string, text: string, ...args: unknown[]) => fill(text, args)
  } as unknown as TranslationBundle;
  return { languageCode, load: () => bundle } as unknown as ITranslator;
}

/** The panel's actions as jest mocks (what the sidebar's buttons call). */
export function panelActions(): jest.Mocked<IPanelActions> {
  return {
    open: jest.fn(),
    start: jest.fn(),
    stop: jest.fn(),
    extend: jest.fn(),
    installSshConfig: jest.fn(),
    copySshConfig: jest.fn(),
    copySshCommand: jest.fn()
  };
}
