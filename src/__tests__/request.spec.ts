import { ServerConnection } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';

import { apiUrl, CodeLabAPIError, requestAPI } from '../request';

function settingsAnswering(
  status: number,
  body: string,
  seen: Request[] = []
): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/base/',
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input as RequestInfo, init));
      return new Response(status === 204 ? null : body, { status });
    }
  });
}

describe('requestAPI', () => {
  it('joins the base URL, the codelab namespace and the query', () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/base/'
    });
    expect(apiUrl(settings, 'images', { arch: 'x86_64', name: '' })).toBe(
      'http://localhost:8888/base/codelab/images?arch=x86_64'
    );
  });

  it('decodes JSON answers', async () => {
    const seen: Request[] = [];
    const settings = settingsAnswering(200, '{"region":"cn-north-4"}', seen);
    const answer = await requestAPI<{ region: string }>('status', { settings });
    expect(answer.region).toBe('cn-north-4');
    expect(seen[0].url).toBe('http://localhost:8888/base/codelab/status');
    expect(seen[0].cache).toBe('no-cache');
  });

  it('sends JSON bodies with the right verb', async () => {
    const seen: Request[] = [];
    const settings = settingsAnswering(200, '{}', seen);
    await requestAPI<never>('open', {
      method: 'POST',
      body: { image_id: 'img' },
      settings
    });
    expect(seen[0].method).toBe('POST');
    expect(await seen[0].text()).toBe('{"image_id":"img"}');
  });

  it('turns an error body into a readable error', async () => {
    const settings = settingsAnswering(
      409,
      '{"message":"An instance is running","instance":{"id":"i1","status":"RUNNING"}}'
    );
    const error: CodeLabAPIError = await requestAPI<never>('open', {
      method: 'POST',
      settings
    }).catch((e: CodeLabAPIError) => e);
    expect(error).toBeInstanceOf(CodeLabAPIError);
    expect(error.message).toBe('An instance is running');
    expect(error.status).toBe(409);
    expect(error.body?.instance?.id).toBe('i1');
  });

  it('explains an HTML error page', async () => {
    const settings = settingsAnswering(502, '<html>Bad gateway</html>');
    await expect(requestAPI('status', { settings })).rejects.toThrow(
      'HTTP 502'
    );
  });

  it('answers undefined for 204', async () => {
    const settings = settingsAnswering(204, '');
    await expect(
      requestAPI('credentials', { method: 'DELETE', settings })
    ).resolves.toBeUndefined();
  });
});

describe('CodeLabAPIError', () => {
  it('is a ServerConnection.ResponseError carrying the answer', async () => {
    const settings = settingsAnswering(
      429,
      '{"message":"Throttled","code":"APIGW.0308","request_id":"r-1"}'
    );
    const error = await requestAPI<never>('images', { settings }).catch(
      (e: unknown) => e
    );
    expect(error).toBeInstanceOf(ServerConnection.ResponseError);
    expect(error).toBeInstanceOf(CodeLabAPIError);
    const api = error as CodeLabAPIError;
    expect(api.response.status).toBe(429);
    expect(api.status).toBe(429);
    expect(api.code).toBe('APIGW.0308');
    expect(api.requestId).toBe('r-1');
    expect(api.name).toBe('CodeLabAPIError');
  });

  it('has status 0 when the server cannot be reached', async () => {
    const settings = ServerConnection.makeSettings({
      baseUrl: 'http://localhost:8888/base/',
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      }
    });
    const error = (await requestAPI<never>('status', { settings }).catch(
      (e: unknown) => e
    )) as CodeLabAPIError;
    expect(error).toBeInstanceOf(CodeLabAPIError);
    expect(error.status).toBe(0);
    expect(error.message).toBe(
      'The Jupyter server could not be reached (Failed to fetch).'
    );
  });
});

describe('messages', () => {
  /** A bundle that marks what went through it. */
  const marking = {
    __: (text: string, ...args: unknown[]) =>
      `«${args.reduce<string>((t, a, i) => t.replace(`%${i + 1}`, String(a)), text)}»`
  } as unknown as TranslationBundle;

  it('go through the translation bundle', async () => {
    const errors = await Promise.all(
      [
        settingsAnswering(404, ''),
        settingsAnswering(403, ''),
        settingsAnswering(502, '<html></html>'),
        settingsAnswering(200, 'not json')
      ].map(settings =>
        requestAPI<never>('status', { settings, trans: marking }).catch(
          (e: Error) => e.message
        )
      )
    );
    for (const message of errors) {
      expect(message).toMatch(/^«.*»$/);
    }
  });

  it('keep the server message as it is', async () => {
    const settings = settingsAnswering(400, '{"message":"Bad image id."}');
    await expect(
      requestAPI('open', { method: 'POST', settings, trans: marking })
    ).rejects.toThrow(/^Bad image id\.$/);
  });
});

describe('requestAPI in the panel language', () => {
  it('asks the server for English by default', async () => {
    const seen: Request[] = [];
    await requestAPI('status', {
      settings: settingsAnswering(200, '{}', seen)
    });
    expect(seen[0].headers.get('Accept-Language')).toBe('en');
  });

  it('sends the panel language and shows the server message as sent', async () => {
    const seen: Request[] = [];
    const error = await requestAPI<never>('open', {
      method: 'POST',
      body: {},
      language: 'zh-CN',
      settings: settingsAnswering(400, '{"message":"服务器的消息"}', seen)
    }).catch((e: CodeLabAPIError) => e);
    expect(seen[0].headers.get('Accept-Language')).toBe('zh-CN');
    expect(seen[0].headers.get('Content-Type')).toBe('application/json');
    expect(error.message).toBe('服务器的消息');
  });
});
