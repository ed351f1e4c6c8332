import { ServerConnection } from '@jupyterlab/services';

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
    expect(apiUrl('images', { arch: 'x86_64', name: '' }, settings)).toBe(
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
