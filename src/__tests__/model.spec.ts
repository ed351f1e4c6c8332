import { ServerConnection } from '@jupyterlab/services';

import { CodeLabClient } from '../api';
import { ICodeLabNotice } from '../model';
import {
  FakeEventSource,
  FakeServer,
  fakeTranslator,
  IMAGES,
  instance,
  running,
  status
} from './fakes';

describe('CodeLabModel', () => {
  let server: FakeServer;
  let notices: ICodeLabNotice[];
  let confirmSwitch: jest.Mock;

  function makeModel(extra: Record<string, unknown> = {}) {
    const model = server.model({
      confirmSwitch,
      pollInterval: 1000,
      retryInterval: 500,
      ...extra
    });
    model.notice.connect((_, n) => notices.push(n));
    return model;
  }

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    server = new FakeServer();
    FakeEventSource.instances = [];
    notices = [];
    confirmSwitch = jest.fn(async () => true);
  });

  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  describe('refresh', () => {
    it('loads status and images, and preselects the default image', async () => {
      const model = makeModel();
      await model.refresh();
      expect(model.signedIn).toBe(true);
      expect(model.images).toHaveLength(IMAGES.length);
      expect(model.selectedImageId).toBe('cpu-default');
      model.dispose();
    });

    it('a check of the instance asked during a load is not answered by that load', async () => {
      let release = () => {};
      const gate = new Promise<void>(resolve => (release = resolve));
      let looks = 0;
      server.on('GET instances', () => {
        looks++;
        return looks === 1
          ? {
              status: 200,
              body: { instances: [running(Date.now(), 60_000)] },
              after: gate
            }
          : {
              status: 200,
              body: {
                instances: [{ ...running(Date.now(), 60_000), id: 'i-2' }]
              }
            };
      });
      const model = makeModel();
      const shown = model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(looks).toBe(1); // its list was asked for before the check was
      const checked = model.refresh({ checkInstance: true });
      release();
      await Promise.all([shown, checked]);
      expect(looks).toBe(2);
      expect(model.instance?.id).toBe('i-2');
      model.dispose();
    });

    it('remembers the last image choice in the state database', async () => {
      const saved = new Map<string, unknown>();
      const state = {
        fetch: async (id: string) => saved.get(id),
        save: async (id: string, value: unknown) => void saved.set(id, value)
      };
      const first = makeModel({ state });
      await first.refresh();
      first.selectImage('gpu-1');
      await jest.advanceTimersByTimeAsync(1);
      first.dispose();

      const second = makeModel({ state });
      await second.refresh();
      expect(second.selectedImageId).toBe('gpu-1');
      second.dispose();
    });

    it('peeks with one request at start and watches only once the panel shows', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(Date.now(), 3_600_000)] }
      }));
      const model = makeModel();
      await model.peek();
      // one request: the instance for the status-bar countdown, no stream, no SSH config
      expect(server.calls.map(c => `${c.method} ${c.path}`)).toEqual([
        'GET instances'
      ]);
      expect(model.instance?.id).toBe('i-1');
      expect(FakeEventSource.instances).toHaveLength(0);
      // the panel opens: now the stream and the rest
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeEventSource.instances).toHaveLength(1);
      expect(server.callsTo('GET status')).toHaveLength(1);
      expect(
        server.calls.some(c => c.path.startsWith('instances/i-1/ssh-config'))
      ).toBe(true);
      model.dispose();
    });

    it('peeking without credentials fails quietly', async () => {
      server.on('GET instances', () => ({
        status: 401,
        body: { message: 'No Huawei Cloud credentials are configured.' }
      }));
      const model = makeModel();
      await model.peek();
      expect(model.instance).toBeNull();
      model.dispose();
    });

    it('reattaches to the instance the account already has', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(Date.now(), 3_600_000)] }
      }));
      const model = makeModel();
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.instance?.id).toBe('i-1');
      expect(FakeEventSource.latest().url).toBe(
        'http://localhost/lab-base/codelab/instances/i-1/events?lang=en'
      );
      // Reattaching to a running instance is not news.
      expect(notices).toEqual([]);
      model.dispose();
    });

    it("follows the server's instance, not the one peeked before the cloud replaced or deleted it", async () => {
      let listed = [running(Date.now(), 3_600_000)];
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: listed }
      }));
      const model = makeModel();
      await model.peek();
      expect(model.instance?.id).toBe('i-1');
      // meanwhile a Stop and an open from another machine: the account's instance is i-2
      listed = [{ ...running(Date.now(), 3_600_000), id: 'i-2' }];
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.instance?.id).toBe('i-2');
      expect(FakeEventSource.latest().url).toContain('/instances/i-2/events');
      // ModelArts deleted it (unused for 72 h): the panel forgets it, its stream closes
      listed = [];
      await model.checkInstance();
      expect(model.instance).toBeNull();
      expect(model.isRunning).toBe(false);
      expect(FakeEventSource.latest().closed).toBe(true);
      model.dispose();
    });

    it('keeps retrying while the Jupyter server is down, less and less often', async () => {
      jest.spyOn(Math, 'random').mockReturnValue(0.5);
      server.down = true;
      const model = makeModel();
      await model.refresh();
      expect(model.statusError).toMatch(/could not be reached/);
      await jest.advanceTimersByTimeAsync(60_000);
      // backoff: fewer attempts than one per base delay, more than one per max delay
      expect(server.attempts).toBeLessThan(60_000 / 500 / 2);
      expect(server.attempts).toBeGreaterThanOrEqual(60_000 / 30_000);
      expect(model.statusError).toMatch(/could not be reached/);
      server.down = false;
      await jest.advanceTimersByTimeAsync(30_000); // Poll's longest delay
      expect(model.statusError).toBeNull();
      expect(model.signedIn).toBe(true);
      expect(server.callsTo('GET status')).toHaveLength(1);
      // and then it stops retrying
      await jest.advanceTimersByTimeAsync(60_000);
      expect(server.callsTo('GET status')).toHaveLength(1);
      model.dispose();
    });
  });

  describe('sign in', () => {
    it('shows the server message when the keys are refused', async () => {
      server.on('GET status', () => ({ status: 200, body: status(false) }));
      server.on('PUT credentials', () => ({
        status: 401,
        body: { message: 'The access key was refused (APIGW.0301).' }
      }));
      const model = makeModel();
      await model.refresh();
      const ok = await model.signIn({ access_key: 'AK', secret_key: 'SK' });
      expect(ok).toBe(false);
      expect(model.signInError).toBe(
        'The access key was refused (APIGW.0301).'
      );
      model.dispose();
    });

    it('stores the keys, then loads images', async () => {
      server.on('GET status', () => ({ status: 200, body: status(false) }));
      server.on('PUT credentials', () => ({ status: 200, body: status(true) }));
      const model = makeModel();
      await model.refresh();
      expect(server.callsTo('GET images')).toHaveLength(0);
      expect(
        await model.signIn({
          access_key: 'AK',
          secret_key: 'SK',
          region: 'cn-north-4'
        })
      ).toBe(true);
      expect(server.callsTo('PUT credentials')[0].body).toEqual({
        access_key: 'AK',
        secret_key: 'SK',
        region: 'cn-north-4'
      });
      expect(model.images).toHaveLength(IMAGES.length);
      model.dispose();
    });

    it('signs out with DELETE', async () => {
      server.on('DELETE credentials', () => ({ status: 204 }));
      const model = makeModel();
      await model.refresh();
      server.on('GET status', () => ({ status: 200, body: status(false) }));
      await model.signOut();
      expect(server.callsTo('DELETE credentials')).toHaveLength(1);
      expect(model.signedIn).toBe(false);
      model.dispose();
    });
  });

  describe('open', () => {
    it('sends the image and the URL as typed, keeps what the server sent, then follows the stream', async () => {
      // the server owns the rewriting: it answers the raw URL it sent to ModelArts
      server.on('POST open', () => ({
        status: 200,
        body: {
          ...instance(),
          share_url: 'https://raw.githubusercontent.com/o/r/main/a.ipynb'
        }
      }));
      const model = makeModel();
      await model.refresh();
      model.selectImage('gpu-1');
      model.setShareUrl('https://github.com/o/r/blob/main/a.ipynb');
      expect(await model.open()).toBe(true);
      expect(server.callsTo('POST open')[0].body).toEqual({
        image_id: 'gpu-1',
        share_url: 'https://github.com/o/r/blob/main/a.ipynb'
      });
      expect(model.sentShareUrl).toBe(
        'https://raw.githubusercontent.com/o/r/main/a.ipynb'
      );
      expect(model.steps.map(s => s.state)).toEqual([
        'active',
        'waiting',
        'waiting',
        'waiting'
      ]);

      await jest.advanceTimersByTimeAsync(1);
      const source = FakeEventSource.latest();
      source.open();
      expect(model.connection).toBe('live');
      await jest.advanceTimersByTimeAsync(4_999);
      source.send('instance', running(Date.now(), 3_600_000));
      expect(model.isRunning).toBe(true);
      expect(model.steps.every(s => s.state === 'done')).toBe(true);
      expect(model.steps[0].elapsedMs).toBe(5_000);
      expect(notices.map(n => n.kind)).toEqual(['ready']);
      model.dispose();
    });

    it('asks the server about the URL once typing stops, and refuses what it refused with its message', async () => {
      const refusal = "'url' must be an http:// or https:// URL.";
      server.on('GET share-url', () => ({
        status: 400,
        body: { message: refusal }
      }));
      const model = makeModel({ shareCheckDelay: 300 });
      await model.refresh();
      model.setShareUrl('f');
      model.setShareUrl('ft');
      model.setShareUrl('ftp://example.com/x.ipynb');
      expect(model.shareUrlCheck).toEqual({ kind: 'checking' });
      await jest.advanceTimersByTimeAsync(299);
      expect(server.callsTo('GET share-url')).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      // one request, for the text as it is when typing stopped
      const calls = server.callsTo('GET share-url');
      expect(calls.map(c => c.query.get('url'))).toEqual([
        'ftp://example.com/x.ipynb'
      ]);
      expect(model.shareUrlCheck).toEqual({
        kind: 'invalid',
        message: refusal
      });
      expect(model.canOpen).toBe(false);
      expect(await model.open()).toBe(false);
      expect(server.callsTo('POST open')).toHaveLength(0);
      model.dispose();
    });

    it('cancels a check when the URL changes, and shows only the answer for the text now in the field', async () => {
      let release: () => void = () => undefined;
      const slow = new Promise<void>(resolve => (release = resolve));
      server.on('GET share-url', call =>
        call.query.get('url') === 'https://example.com/old.ipynb'
          ? {
              status: 400,
              body: { message: 'stale answer' },
              after: slow
            }
          : {
              status: 200,
              body: {
                share_url: 'https://example.com/new.ipynb',
                converted: false,
                looks_like_notebook: true
              }
            }
      );
      const model = makeModel({ shareCheckDelay: 300 });
      await model.refresh();
      model.setShareUrl('https://example.com/old.ipynb');
      await jest.advanceTimersByTimeAsync(300);
      const first = server.callsTo('GET share-url')[0];
      expect(first.signal.aborted).toBe(false);
      model.setShareUrl('https://example.com/new.ipynb');
      expect(first.signal.aborted).toBe(true);
      await jest.advanceTimersByTimeAsync(300);
      release();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.shareUrlCheck).toEqual({
        kind: 'ok',
        share_url: 'https://example.com/new.ipynb',
        converted: false,
        looks_like_notebook: true
      });
      // emptied: nothing to ask
      model.setShareUrl('  ');
      expect(model.shareUrlCheck).toEqual({ kind: 'empty' });
      await jest.advanceTimersByTimeAsync(300);
      expect(server.callsTo('GET share-url')).toHaveLength(2);
      model.dispose();
    });

    it('opens anyway when the URL could not be checked: the server decides on open', async () => {
      server.on('GET share-url', () => ({
        status: 502,
        body: { message: 'bad gateway' }
      }));
      server.on('POST open', () => ({ status: 200, body: instance() }));
      const model = makeModel({ shareCheckDelay: 300 });
      await model.refresh();
      model.setShareUrl('https://example.com/a.ipynb');
      await jest.advanceTimersByTimeAsync(300);
      expect(model.shareUrlCheck.kind).toBe('unchecked');
      expect(model.canOpen).toBe(true);
      expect(await model.open()).toBe(true);
      expect(server.callsTo('POST open')[0].body).toMatchObject({
        share_url: 'https://example.com/a.ipynb'
      });
      model.dispose();
    });

    it('asks before switching a running instance (409) and switches when accepted', async () => {
      const current = running(Date.now(), 3_600_000);
      server.on('POST open', call =>
        (call.body as { switch?: boolean }).switch
          ? {
              status: 200,
              body: instance({
                status: 'STARTING',
                status_class: 'changing',
                image: IMAGES[0]
              })
            }
          : {
              status: 409,
              body: {
                message: 'A CodeLab instance is running',
                instance: current
              }
            }
      );
      const model = makeModel();
      await model.refresh();
      model.selectImage('gpu-1');
      expect(await model.open()).toBe(true);
      // the dialog shows what the server said
      expect(confirmSwitch).toHaveBeenCalledWith(
        current,
        IMAGES[0],
        'A CodeLab instance is running'
      );
      expect(server.callsTo('POST open').map(c => c.body)).toEqual([
        { image_id: 'gpu-1' },
        { image_id: 'gpu-1', switch: true }
      ]);
      expect(model.instance?.status).toBe('STARTING');
      model.dispose();
    });

    it('leaves the running instance alone when the switch is declined', async () => {
      const current = running(Date.now(), 3_600_000);
      server.on('POST open', () => ({
        status: 409,
        body: { message: 'A CodeLab instance is running', instance: current }
      }));
      confirmSwitch.mockResolvedValue(false);
      const model = makeModel();
      await model.refresh();
      expect(await model.open()).toBe(false);
      expect(server.callsTo('POST open')).toHaveLength(1);
      expect(model.openError).toBeNull();
      expect(model.instance?.status).toBe('RUNNING');
      model.dispose();
    });

    it('opens a deep link with only a share URL on the named default image, never a blank one; a running GPU instance asks and is kept', async () => {
      const gpu = running(Date.now(), 3_600_000);
      gpu.image = IMAGES[0];
      const message =
        "Your CodeLab instance inst-1 (RUNNING) runs image 'pytorch1.8…'. Opening 'notebook2.0-mul-kernel-cpu-cp36:3.3.2' switches it…";
      server.on('POST open', () => ({
        status: 409,
        body: { message, code: 'codelab.switch_required', instance: gpu }
      }));
      confirmSwitch.mockResolvedValue(false);
      const model = makeModel();
      await model.refresh();
      model.prefill({ shareUrl: 'https://example.com/a.ipynb' });
      expect(await model.open()).toBe(false);
      expect(server.callsTo('POST open').map(c => c.body)).toEqual([
        { image_id: 'cpu-default', share_url: 'https://example.com/a.ipynb' }
      ]);
      expect(confirmSwitch).toHaveBeenCalledWith(gpu, IMAGES[1], message);
      expect(model.instance?.image?.id).toBe('gpu-1');
      expect(model.instance?.status).toBe('RUNNING');
      model.dispose();
    });

    it('sends nothing while no image is named (the catalogue marks no default)', async () => {
      server.on('GET images', () => ({
        status: 200,
        body: { images: IMAGES.map(image => ({ ...image, default: false })) }
      }));
      const model = makeModel();
      await model.refresh();
      expect(model.selectedImageId).toBeNull();
      expect(model.canOpen).toBe(false);
      expect(await model.open()).toBe(false);
      expect(server.callsTo('POST open')).toHaveLength(0);
      // once the user picks one, it is sent by its id
      server.on('POST open', () => ({ status: 200, body: instance() }));
      model.selectImage('cpu-2');
      expect(model.canOpen).toBe(true);
      expect(await model.open()).toBe(true);
      expect(server.callsTo('POST open').map(c => c.body)).toEqual([
        { image_id: 'cpu-2' }
      ]);
      model.dispose();
    });

    it('shows the failure reason and notifies', async () => {
      server.on('POST open', () => ({ status: 200, body: instance() }));
      const model = makeModel();
      await model.refresh();
      await model.open();
      await jest.advanceTimersByTimeAsync(1);
      FakeEventSource.latest().send(
        'instance',
        instance({
          status: 'CREATE_FAILED',
          status_class: 'failed',
          fail_reason: 'Resources sold out',
          action_progress: [
            { step: 1, status: 'COMPLETED' },
            { step: 2, status: 'FAILED' },
            { step: 3, status: 'WAITING' },
            { step: 4, status: 'WAITING' }
          ]
        })
      );
      expect(model.isFailed).toBe(true);
      expect(model.steps.map(s => s.state)).toEqual([
        'done',
        'failed',
        'waiting',
        'waiting'
      ]);
      expect(notices.map(n => n.kind)).toEqual(['failed']);
      model.dispose();
    });

    it('reports a readable error from the server', async () => {
      server.on('POST open', () => ({
        status: 429,
        body: {
          message: 'ModelArts is throttling requests; try again in 10 s.',
          code: 'APIGW.0308'
        }
      }));
      const model = makeModel();
      await model.refresh();
      expect(await model.open()).toBe(false);
      expect(model.openError).toBe(
        'ModelArts is throttling requests; try again in 10 s.'
      );
      model.dispose();
    });
  });

  describe('live updates', () => {
    async function watching() {
      server.on('POST open', () => ({ status: 200, body: instance() }));
      const model = makeModel();
      await model.refresh();
      await model.open();
      await jest.advanceTimersByTimeAsync(1);
      return model;
    }

    it('polls while the stream is down and reconnects with a growing, bounded delay', async () => {
      // Poll's backoff is random between the base and 3x the last delay: pin it
      jest.spyOn(Math, 'random').mockReturnValue(0.5);
      server.on('GET instances/i-1', () => ({
        status: 200,
        body: instance({ status: 'STARTING', status_class: 'changing' })
      }));
      const model = await watching();
      const first = FakeEventSource.latest();
      first.fail();
      expect(first.closed).toBe(true);
      expect(model.connection).toBe('polling');

      // every new stream fails at once, for three minutes
      const opened: number[] = [];
      for (let ms = 0; ms < 180_000; ms += 100) {
        await jest.advanceTimersByTimeAsync(100);
        const latest = FakeEventSource.latest();
        if (latest !== first && !latest.closed) {
          opened.push(Date.now());
          latest.fail();
        }
      }
      const gaps = opened.slice(1).map((t, i) => t - opened[i]);
      expect(gaps.length).toBeGreaterThan(5);
      for (let i = 1; i < gaps.length; i++) {
        expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1]);
        // Poll never waits longer than max(maxRetryInterval, 30 s)
        expect(gaps[i]).toBeLessThanOrEqual(30_000 + 100);
      }
      expect(gaps[gaps.length - 1]).toBeGreaterThan(gaps[0]);
      // meanwhile the instance was polled every second (pollInterval)
      const polls = server.callsTo('GET instances/i-1').length;
      expect(polls).toBeGreaterThanOrEqual(175);
      expect(polls).toBeLessThanOrEqual(182);
      expect(model.instance?.status).toBe('STARTING');
      expect(model.connection).toBe('polling');

      // a stream that opens stops the polling
      await jest.advanceTimersByTimeAsync(30_100);
      FakeEventSource.latest().open();
      expect(model.connection).toBe('live');
      const before = server.callsTo('GET instances/i-1').length;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(server.callsTo('GET instances/i-1')).toHaveLength(before);
      model.dispose();
      // 1,800 steps of fake time: on a busy machine this takes longer than jest's default 5-10 s
    }, 60_000);

    it('reconnects after the base delay when a live stream breaks', async () => {
      server.on('GET instances/i-1', () => ({ status: 200, body: instance() }));
      const model = await watching();
      FakeEventSource.latest().open();
      FakeEventSource.latest().fail();
      expect(model.connection).toBe('polling');
      await jest.advanceTimersByTimeAsync(499);
      expect(FakeEventSource.instances).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      expect(FakeEventSource.instances).toHaveLength(2);
      model.dispose();
    });

    it('stands by while the page is hidden: no polling, no reconnection', async () => {
      server.on('GET instances/i-1', () => ({
        status: 200,
        body: instance({ status: 'STARTING', status_class: 'changing' })
      }));
      const model = await watching();
      FakeEventSource.latest().fail();
      await jest.advanceTimersByTimeAsync(3_000);
      const polls = server.callsTo('GET instances/i-1').length;
      const streams = FakeEventSource.instances.length;
      expect(polls).toBeGreaterThan(0);

      const visibility = jest
        .spyOn(document, 'visibilityState', 'get')
        .mockReturnValue('hidden');
      document.dispatchEvent(new Event('visibilitychange'));
      try {
        // for each poll, one more tick may run before it stands by (linger)
        await jest.advanceTimersByTimeAsync(3_000);
        const lingered = server.callsTo('GET instances/i-1').length;
        const lingeredStreams = FakeEventSource.instances.length;
        expect(lingered - polls).toBeLessThanOrEqual(2);
        await jest.advanceTimersByTimeAsync(60_000);
        expect(server.callsTo('GET instances/i-1')).toHaveLength(lingered);
        expect(FakeEventSource.instances).toHaveLength(lingeredStreams);
        expect(lingeredStreams - streams).toBeLessThanOrEqual(2);
      } finally {
        visibility.mockRestore();
        document.dispatchEvent(new Event('visibilitychange'));
      }
      await jest.advanceTimersByTimeAsync(2_000);
      expect(server.callsTo('GET instances/i-1').length).toBeGreaterThanOrEqual(
        polls + 1
      );
      model.dispose();
    });

    it('forgets an instance that is gone (server upstream-error event 404)', async () => {
      const model = await watching();
      const source = FakeEventSource.latest();
      source.send('upstream-error', {
        message: 'The instance does not exist',
        status: 404
      });
      expect(model.instance).toBeNull();
      expect(source.closed).toBe(true);
      model.dispose();
    });

    it('hands over to the instance the account has now when the one followed is gone', async () => {
      const model = await watching();
      const source = FakeEventSource.latest();
      // the server still lists the gone one first (never followed again), then the new one
      server.on('GET instances', () => ({
        status: 200,
        body: {
          instances: [
            running(Date.now(), 3_600_000),
            { ...running(Date.now(), 3_600_000), id: 'i-2' }
          ]
        }
      }));
      source.send('upstream-error', {
        message: 'The instance does not exist',
        status: 404
      });
      expect(model.instance).toBeNull();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.instance?.id).toBe('i-2');
      expect(source.closed).toBe(true);
      expect(FakeEventSource.latest().url).toContain('/instances/i-2/events');
      model.dispose();
    });

    it('clears an upstream error when the server re-sends the unchanged instance', async () => {
      const model = await watching();
      const source = FakeEventSource.latest();
      const before = model.instance;
      source.send('upstream-error', {
        message: 'Cannot reach ModelArts',
        status: 502
      });
      expect(model.streamError).toBe('Cannot reach ModelArts');
      // the server's first good poll after the error sends the instance again, changed or not
      source.send('instance', before);
      expect(model.streamError).toBeNull();
      expect(model.instance?.status).toBe(before?.status);
      model.dispose();
    });

    it('ignores events of another instance and malformed data', async () => {
      const model = await watching();
      const source = FakeEventSource.latest();
      source.send(
        'instance',
        instance({ id: 'other', status: 'RUNNING', status_class: 'running' })
      );
      const bad = new MessageEvent('upstream-error', { data: 'not json' });
      for (const listener of source.listenersOf('upstream-error')) {
        listener(bad);
      }
      expect(model.instance?.status).toBe('CREATING');
      expect(model.streamError).toBe('not json');
      model.dispose();
    });

    it('adds ?token= to the stream URL only when the server uses a token', () => {
      const url = (token: string) =>
        new CodeLabClient({
          serverSettings: ServerConnection.makeSettings({
            baseUrl: 'http://localhost/lab-base/',
            token
          })
        }).eventsUrl('i-1');
      expect(url('')).toBe(
        'http://localhost/lab-base/codelab/instances/i-1/events?lang=en'
      );
      expect(url('s3cr3t')).toBe(
        'http://localhost/lab-base/codelab/instances/i-1/events?token=s3cr3t&lang=en'
      );
    });

    it('asks the stream for its error events in the panel language', () => {
      const client = new CodeLabClient({
        serverSettings: ServerConnection.makeSettings({
          baseUrl: 'http://localhost/lab-base/'
        }),
        translator: fakeTranslator('zh-CN')
      });
      expect(client.eventsUrl('i-1')).toBe(
        'http://localhost/lab-base/codelab/instances/i-1/events?lang=zh-CN'
      );
    });
  });

  describe('lease', () => {
    it('ticks every second for the countdown, without a state change, and warns once', async () => {
      const now = Date.now();
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(now, 11 * 60_000)] }
      }));
      const model = makeModel();
      model.setSettings({ warningMinutes: 10 });
      await model.refresh();
      expect(model.remainingMs).toBe(11 * 60_000);
      expect(model.expiring).toBe(false);
      await jest.advanceTimersByTimeAsync(1); // the clock's first tick
      let ticks = 0;
      let changes = 0;
      model.tick.connect(() => ticks++);
      model.stateChanged.connect(() => changes++);
      await jest.advanceTimersByTimeAsync(3_000);
      expect(ticks).toBe(3);
      expect(changes).toBe(0); // the countdown alone changes nothing else
      expect(model.remainingMs).toBe(11 * 60_000 - 3_001);

      await jest.advanceTimersByTimeAsync(60_000);
      expect(model.expiring).toBe(true);
      expect(changes).toBe(1); // entering the warning window is a change
      await jest.advanceTimersByTimeAsync(10_000);
      expect(notices.filter(n => n.kind === 'expiring')).toHaveLength(1);
      expect(changes).toBe(1);
      model.dispose();
    });

    it('stops the clock when nothing counts', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: {
          instances: [
            instance({
              status: 'STOPPED',
              status_class: 'stopped',
              lease: null
            })
          ]
        }
      }));
      const model = makeModel();
      await model.refresh();
      let ticks = 0;
      model.tick.connect(() => ticks++);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(ticks).toBe(0);
      model.dispose();
    });

    it('extends with PATCH lease duration_ms and recounts', async () => {
      const now = Date.now();
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(now, 5 * 60_000)] }
      }));
      server.on('PATCH instances/i-1/lease', () => ({
        status: 200,
        body: {
          create_at: now,
          duration: 2 * 3_600_000,
          enable: true,
          type: 'TIMING'
        }
      }));
      const model = makeModel();
      await model.refresh();
      expect(model.expiring).toBe(true);
      expect(await model.extend(2)).toBe(true);
      expect(server.callsTo('PATCH instances/i-1/lease')[0].body).toEqual({
        duration_ms: 7_200_000
      });
      expect(model.remainingMs).toBe(7_200_000);
      expect(model.expiring).toBe(false);
      model.dispose();
    });

    it('asks before a shorter lease (409 {message, lease}) and sends shorten only when accepted', async () => {
      const now = Date.now();
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(now, 5 * 3_600_000)] }
      }));
      const current = { create_at: now, duration: 5 * 3_600_000, enable: true };
      server.on('PATCH instances/i-1/lease', call =>
        (call.body as { shorten?: boolean }).shorten
          ? {
              status: 200,
              body: { create_at: now, duration: 3_600_000, enable: true }
            }
          : {
              status: 409,
              body: {
                message: 'This would shorten the lease (5 hours left).',
                lease: current
              }
            }
      );
      const asked: unknown[][] = [];
      let answer = false;
      const model = makeModel({
        confirmShorten: async (...args: unknown[]) => {
          asked.push(args);
          return answer;
        }
      });
      await model.refresh();
      // declined: nothing changes, no error shown, no second request
      expect(await model.extend(1)).toBe(false);
      expect(asked).toEqual([
        [current, 1, 'This would shorten the lease (5 hours left).']
      ]);
      expect(model.actionError).toBeNull();
      expect(server.callsTo('PATCH instances/i-1/lease')).toHaveLength(1);
      expect(model.remainingMs).toBe(5 * 3_600_000);
      // accepted: sent again with shorten, the countdown follows
      answer = true;
      expect(await model.extend(1)).toBe(true);
      const calls = server.callsTo('PATCH instances/i-1/lease');
      expect(calls.map(c => c.body)).toEqual([
        { duration_ms: 3_600_000 },
        { duration_ms: 3_600_000 },
        { duration_ms: 3_600_000, shorten: true }
      ]);
      expect(model.remainingMs).toBe(3_600_000);
      model.dispose();
    });

    it('never asks for the lease of an instance that is not running', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: {
          instances: [instance({ status: 'STOPPED', status_class: 'stopped' })]
        }
      }));
      const model = makeModel();
      await model.refresh();
      expect(model.isRunning).toBe(false);
      expect(await model.extend(2)).toBe(false);
      expect(server.callsTo('PATCH instances/i-1/lease')).toHaveLength(0);
      model.dispose();
    });

    it('stops with POST stop', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: { instances: [running(Date.now(), 3_600_000)] }
      }));
      server.on('POST instances/i-1/stop', () => ({
        status: 200,
        body: instance({ status: 'STOPPING', status_class: 'stopping' })
      }));
      const model = makeModel();
      await model.refresh();
      await model.stop();
      expect(model.instance?.status).toBe('STOPPING');
      expect(model.remainingMs).toBeNull();
      model.dispose();
    });
  });

  describe('SSH', () => {
    it('fetches the config block with the identity file', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: {
          instances: [
            {
              ...running(Date.now(), 3_600_000),
              ssh_command:
                'ssh -i ~/.ssh/KeyPair-default.pem -p 31022 ma-user@h'
            }
          ]
        }
      }));
      server.on('GET instances/i-1/ssh-command', call => ({
        status: 200,
        body: {
          ssh_command: `ssh -i ${call.query.get('identity_file')} -p 31022 ma-user@h`
        }
      }));
      server.on('GET instances/i-1/ssh-config', call => ({
        status: 200,
        body: `Host codelab\n  IdentityFile ${call.query.get('identity_file') ?? ''}\n`
      }));
      const saved: string[] = [];
      const model = makeModel({
        saveIdentityFile: (p: string) => saved.push(p)
      });
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.sshState).toBe('ready');
      // the server's command, as it renders it (no copy of the rule here)
      expect(model.sshCommand).toBe(
        'ssh -i ~/.ssh/KeyPair-default.pem -p 31022 ma-user@h'
      );
      model.setIdentityFile('~/.ssh/KeyPair-1.pem');
      await jest.advanceTimersByTimeAsync(600);
      expect(saved).toEqual(['~/.ssh/KeyPair-1.pem']);
      expect(model.sshConfig).toContain('IdentityFile ~/.ssh/KeyPair-1.pem');
      expect(model.sshCommand).toBe(
        'ssh -i ~/.ssh/KeyPair-1.pem -p 31022 ma-user@h'
      );
      model.dispose();
    });

    it('says when the instance has no SSH endpoint', async () => {
      server.on('GET instances', () => ({
        status: 200,
        body: {
          instances: [
            { ...running(Date.now(), 3_600_000), ssh: { host: 'h', port: 1 } }
          ]
        }
      }));
      server.on('GET instances/i-1/ssh-config', () => ({
        status: 404,
        body: { message: 'This instance has no SSH endpoint.' }
      }));
      const model = makeModel();
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
      expect(model.sshState).toBe('unavailable');
      model.dispose();
    });
  });
});
