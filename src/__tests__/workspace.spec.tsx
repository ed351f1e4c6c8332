import '@testing-library/jest-dom';
import { nullTranslator } from '@jupyterlab/translation';
import {
  act,
  fireEvent,
  render,
  screen,
  waitFor,
  within
} from '@testing-library/react';
import React from 'react';

import { CodeLabSidebar, IPanelActions } from '../components/CodeLabSidebar';
import { IWorkspaceActions } from '../components/WorkspaceSection';
import { ICodeLabModelOptions } from '../model';
import { SshInstaller } from '../sshinstall';
import {
  IWorkspace,
  IWorkspaceJob,
  IWorkspaceLink,
  WorkspaceClient
} from '../workspace/api';
import { openInCodeLab } from '../workspace/commands';
import { confirmUnlink } from '../workspace/dialogs';
import { WorkspaceModel } from '../workspace/model';
import { FakeEventSource, FakeServer, panelActions, running } from './fakes';

const trans = nullTranslator.load('codelab_ext');
const WS = 'instances/i-1/workspace';

function workspace(overrides: Partial<IWorkspace> = {}): IWorkspace {
  return {
    instance_id: 'i-1',
    link: {
      id: 'l1',
      instance_id: 'i-1',
      local: 'projects/demo',
      local_path: '/home/me/projects/demo',
      remote: '/home/ma-user/work/demo',
      created_at: 1_700_000_000_000,
      last_sync: null,
      last_result: null
    },
    waiting: {
      local: ['a.ipynb', 'data/x.csv'],
      remote: ['out.png'],
      conflicts: []
    },
    waiting_error: null,
    job: null,
    pull_before_stop: true,
    ...overrides
  };
}

function job(overrides: Partial<IWorkspaceJob> = {}): IWorkspaceJob {
  return {
    id: 'w1',
    instance_id: 'i-1',
    kind: 'push',
    trigger: 'user',
    state: 'running',
    started_at: 1_700_000_000_000,
    finished_at: null,
    progress: {
      phase: 'transfer',
      files_done: 1,
      files_total: 2,
      bytes_done: 512,
      bytes_total: 2048
    },
    result: null,
    error: null,
    not_home: null,
    open_url: null,
    ...overrides
  };
}

describe('WorkspaceSection', () => {
  let server: FakeServer;
  let actions: jest.Mocked<IPanelActions>;
  let wsActions: jest.Mocked<IWorkspaceActions>;
  const models: { dispose(): void }[] = [];

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    server = new FakeServer();
    FakeEventSource.instances = [];
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 3_600_000)] }
    }));
    actions = panelActions();
    wsActions = {
      currentFolder: jest.fn(() => 'projects/demo'),
      openFile: jest.fn(),
      extend: jest.fn(),
      confirmUnlink: jest.fn(async (_link: IWorkspaceLink) => false as boolean)
    };
  });

  afterEach(() => {
    while (models.length) {
      models.pop()?.dispose();
    }
    jest.useRealTimers();
  });

  /** The panel's two models on the fake server (disposed after the test). */
  function makeModels(
    options: Pick<ICodeLabModelOptions, 'confirmFilesNotHome'> = {}
  ) {
    const model = server.model({
      confirmFilesNotHome: options.confirmFilesNotHome
    });
    const ws = new WorkspaceModel({
      codelab: model,
      api: new WorkspaceClient({ serverSettings: server.settings() })
    });
    models.push(ws, model);
    return { model, ws };
  }

  async function renderPanel(
    options: Pick<ICodeLabModelOptions, 'confirmFilesNotHome'> = {}
  ) {
    const { model, ws } = makeModels(options);
    render(
      <CodeLabSidebar
        model={model}
        trans={trans}
        actions={actions}
        installer={new SshInstaller(jest.fn())}
        workspace={{ model: ws, actions: wsActions }}
      />
    );
    await act(async () => {
      await model.refresh();
      await jest.advanceTimersByTimeAsync(10);
    });
    return { model, ws };
  }

  function section(): HTMLElement {
    return screen.getByRole('region', { name: 'Workspace' });
  }

  it('shows the linked folder and what waits on each side, then pushes with a progress bar', async () => {
    let current = job();
    let started = false;
    // the server answers the running job, else the newest one
    server.on(`GET ${WS}`, () => ({
      status: 200,
      body: workspace({ job: started ? current : null })
    }));
    server.on(`POST ${WS}/push`, () => {
      started = true;
      return { status: 202, body: { job: current } };
    });
    server.on(`GET ${WS}/jobs/w1`, () => ({
      status: 200,
      body: { job: current }
    }));
    await renderPanel();

    const box = within(section());
    expect(box.getByTestId('workspace-local')).toHaveTextContent(
      'projects/demo'
    );
    expect(box.getByText('/home/ma-user/work/demo')).toBeInTheDocument();
    expect(box.getByText('never')).toBeInTheDocument();
    expect(box.getByTestId('workspace-waiting')).toHaveTextContent(
      'Waiting: 2 to push, 1 to pull'
    );
    expect(
      box.getByRole('list', { name: 'Changed on the instance, to pull' })
    ).toHaveTextContent('out.png');

    await act(async () => {
      fireEvent.click(box.getByRole('button', { name: 'Push' }));
      await jest.advanceTimersByTimeAsync(10);
    });
    const bar = box.getByRole('progressbar');
    expect(bar).toHaveAttribute('value', '0.25');
    expect(
      box.getByText(/Pushing… 1 of 2 files · 512 B of 2 KB/)
    ).toBeInTheDocument();
    expect(box.getByRole('button', { name: 'Pull' })).toBeDisabled();

    current = job({
      state: 'done',
      finished_at: Date.now(),
      progress: { phase: 'done', files_done: 2, files_total: 2 },
      result: {
        pushed: ['a.ipynb', 'data/x.csv'],
        pulled: [],
        conflicts: [],
        skipped: []
      }
    });
    await act(async () => {
      await jest.advanceTimersByTimeAsync(1100);
    });
    expect(box.queryByRole('progressbar')).toBeNull();
    expect(box.getByTestId('workspace-result')).toHaveTextContent(
      '2 files pushed · 0 files pulled'
    );
    expect(server.callsTo(`POST ${WS}/push`)[0].body).toEqual({});
  });

  it("follows the stream's workspace events and polls only while the stream is down", async () => {
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    server.on(`GET ${WS}/jobs/w1`, () => ({
      status: 200,
      body: { job: job({ kind: 'pull', trigger: 'lease' }) }
    }));
    const { ws } = await renderPanel();
    const stream = FakeEventSource.latest();
    expect(stream.url).toContain('instances/i-1/events');
    await act(async () => {
      stream.open();
      await jest.advanceTimersByTimeAsync(10);
    });
    const guardJobs: IWorkspaceJob[] = [];
    ws.guardJob.connect((_, j) => guardJobs.push(j));
    const looks = () => server.callsTo(`GET ${WS}`).length;
    const before = looks();
    // the stream's first word: one cheap look for what it may have missed before it opened
    expect(server.callsTo(`GET ${WS}`)[before - 1].query.get('waiting')).toBe(
      '0'
    );

    // the lease guard pulls by itself: the server says so on the stream, the panel shows it at once
    const say = async (data: IWorkspaceJob) => {
      await act(async () => {
        stream.send('workspace', data);
        await jest.advanceTimersByTimeAsync(10);
      });
    };
    const guardPull = (overrides: Partial<IWorkspaceJob>) =>
      job({ kind: 'pull', trigger: 'lease', ...overrides });
    await say(
      guardPull({
        progress: {
          phase: 'transfer',
          files_done: 1,
          files_total: 4,
          bytes_done: 100,
          bytes_total: 400
        }
      })
    );
    const box = within(section());
    expect(box.getByRole('progressbar')).toHaveAttribute('value', '0.25');
    expect(guardJobs.map(j => j.state)).toEqual(['running']);
    // an event for another instance is not this section's
    await say(job({ instance_id: 'i-2', state: 'done' }));
    expect(ws.running).toBe(true);

    // live: no poll of the job, nor of the workspace, however long it runs
    await act(async () => {
      await jest.advanceTimersByTimeAsync(40_000);
    });
    expect(server.callsTo(`GET ${WS}/jobs/w1`)).toHaveLength(0);
    expect(looks()).toBe(before);

    await say(
      guardPull({
        state: 'done',
        finished_at: Date.now(),
        progress: { phase: 'done', files_done: 4, files_total: 4 },
        result: {
          pushed: [],
          pulled: ['out.png'],
          conflicts: [],
          skipped: []
        }
      })
    );
    expect(box.queryByRole('progressbar')).toBeNull();
    expect(guardJobs.map(j => j.state)).toEqual(['running', 'done']);
    // the job ended: one full look at what waits on each side
    expect(looks()).toBe(before + 1);
    expect(server.callsTo(`GET ${WS}`)[before].query.get('waiting')).not.toBe(
      '0'
    );

    // the stream breaks: the slow poll stands in (a cheap look every 15 s)
    await act(async () => {
      stream.fail();
      await jest.advanceTimersByTimeAsync(16_000);
    });
    const after = server.callsTo(`GET ${WS}`);
    expect(after.length).toBeGreaterThan(before + 1);
    expect(after[after.length - 1].query.get('waiting')).toBe('0');
  });

  it('Unlink asks first, and forgets the link only when told to', async () => {
    let linkedNow = true;
    server.on(`GET ${WS}`, () => ({
      status: 200,
      body: linkedNow ? workspace() : workspace({ link: null, waiting: null })
    }));
    server.on(`DELETE ${WS}`, () => {
      linkedNow = false;
      return { status: 204, body: '' };
    });
    await renderPanel();
    const box = within(section());
    const unlink = async () => {
      await act(async () => {
        fireEvent.click(box.getByRole('button', { name: 'Unlink' }));
        await jest.advanceTimersByTimeAsync(10);
      });
    };
    await unlink(); // the user cancels
    expect(wsActions.confirmUnlink).toHaveBeenCalledTimes(1);
    expect(wsActions.confirmUnlink.mock.calls[0][0].local).toBe(
      'projects/demo'
    );
    expect(server.callsTo(`DELETE ${WS}`)).toHaveLength(0);
    expect(box.getByTestId('workspace-local')).toHaveTextContent(
      'projects/demo'
    );

    wsActions.confirmUnlink.mockImplementation(async () => true);
    await unlink();
    expect(server.callsTo(`DELETE ${WS}`)).toHaveLength(1);
    expect(
      box.getByRole('button', { name: 'Link current folder' })
    ).toBeInTheDocument();
  });

  it('the Unlink dialog says what is forgotten and defaults to Cancel', async () => {
    jest.useRealTimers();
    const dialogNode = () =>
      waitFor(() => {
        const node = document.querySelector<HTMLElement>('.jp-Dialog');
        expect(node).not.toBeNull();
        return node!;
      });
    // (the dialog renders its React body: inside act)
    const ask = async () => {
      let asked: Promise<boolean> = Promise.resolve(false);
      await act(async () => {
        asked = confirmUnlink(trans, workspace().link!);
        await new Promise(resolve => setTimeout(resolve, 0));
      });
      return { asked }; // (not the promise itself: an async function would wait for it)
    };
    const answer = (await ask()).asked;
    const dialog = await dialogNode();
    expect(dialog).toHaveTextContent('Unlink projects/demo?');
    expect(dialog).toHaveTextContent(
      'CodeLab forgets that projects/demo goes with /home/ma-user/work/demo on the instance'
    );
    expect(dialog).toHaveTextContent('No file is deleted on either side.');
    expect(dialog).toHaveTextContent(
      'cannot tell a file deleted on one side from a new file on the other'
    );
    const buttons = within(dialog).getAllByRole('button', { hidden: true });
    const unlink = buttons.find(b => b.textContent === 'Unlink');
    expect(buttons.map(b => b.textContent)).toEqual(['Cancel', 'Unlink']);
    fireEvent.click(unlink!);
    await expect(answer).resolves.toBe(true);

    // Enter takes the default: Cancel
    const again = (await ask()).asked;
    const second = await dialogNode();
    fireEvent.keyDown(second, { key: 'Enter' });
    await expect(again).resolves.toBe(false);
  });

  it('lists conflicts with both copies openable', async () => {
    server.on(`GET ${WS}`, () => ({
      status: 200,
      body: workspace({
        job: job({
          kind: 'sync',
          state: 'done',
          result: {
            pushed: [],
            pulled: [],
            conflicts: [
              { path: 'a.ipynb', copy: 'a (CodeLab 2026-12-02 013000).ipynb' }
            ],
            skipped: []
          }
        })
      })
    }));
    await renderPanel();
    const box = within(section());
    expect(box.getByText('1 conflict', { exact: false })).toBeInTheDocument();
    fireEvent.click(
      box.getByRole('button', { name: 'Open your copy of a.ipynb' })
    );
    fireEvent.click(
      box.getByRole('button', { name: "Open the instance's copy of a.ipynb" })
    );
    expect(wsActions.openFile.mock.calls).toEqual([
      ['projects/demo/a.ipynb'],
      ['projects/demo/a (CodeLab 2026-12-02 013000).ipynb']
    ]);
  });

  it('lists what the lease guard could not bring home and offers Extend', async () => {
    server.on(`GET ${WS}`, () => ({
      status: 200,
      body: workspace({
        job: job({
          kind: 'pull',
          trigger: 'lease',
          state: 'failed',
          error: { message: 'The instance did not answer.' },
          not_home: ['results/model.pt', 'train.ipynb']
        })
      })
    }));
    const { ws } = await renderPanel();
    const alert = within(section()).getAllByRole('alert');
    const warning = alert.find(a => a.textContent?.includes('not home yet'));
    expect(warning).toHaveTextContent(
      '2 changed files on the instance are not home yet:'
    );
    expect(warning).toHaveTextContent('results/model.pt');
    expect(ws.notHome).toEqual(['results/model.pt', 'train.ipynb']);
    fireEvent.click(
      within(warning!).getByRole('button', { name: 'Extend 1 hour' })
    );
    expect(wsActions.extend).toHaveBeenCalledTimes(1);
  });

  it('links the folder shown in the file browser when nothing is linked', async () => {
    server.on(`GET ${WS}`, () => ({
      status: 200,
      body: workspace({ link: null, waiting: null })
    }));
    server.on(`PUT ${WS}`, () => ({ status: 200, body: workspace() }));
    await renderPanel();
    const box = within(section());
    await act(async () => {
      fireEvent.click(box.getByRole('button', { name: 'Link current folder' }));
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(server.callsTo(`PUT ${WS}`)[0].body).toEqual({
      local: 'projects/demo'
    });
    expect(box.getByTestId('workspace-local')).toHaveTextContent(
      'projects/demo'
    );
  });

  it('a Stop refused with files not home asks, and stops with leave_files when told to', async () => {
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    let stops = 0;
    server.on('POST instances/i-1/stop', call => {
      stops++;
      if (!(call.body as { leave_files?: boolean } | undefined)?.leave_files) {
        return {
          status: 409,
          body: {
            message: '1 changed file(s) on the instance are not home yet.',
            code: 'codelab.files_not_home',
            files: ['out.png'],
            files_count: 1
          }
        };
      }
      return {
        status: 200,
        body: { ...running(Date.now(), 3_600_000), status: 'STOPPING' }
      };
    });
    const ask = jest.fn(async () => 'leave' as const);
    const { model } = await renderPanel({ confirmFilesNotHome: ask });
    await act(async () => {
      await model.stop();
    });
    expect(ask).toHaveBeenCalledTimes(1);
    const calls = ask.mock.calls as unknown as [unknown, { files: string[] }][];
    expect(calls[0][1].files).toEqual(['out.png']);
    expect(stops).toBe(2);
    expect(server.callsTo('POST instances/i-1/stop')[1].body).toEqual({
      leave_files: true
    });
    expect(model.instance?.status).toBe('STOPPING');
    expect(model.actionError).toBeNull();
  });

  /** The instance a Stop and an open from another machine left the account with. */
  const other = () => ({ ...running(Date.now(), 3_600_000), id: 'i-2' });

  it('Open in CodeLab acts on the instance the server has now, never the one peeked at start', async () => {
    let listed = [running(Date.now(), 3_600_000)];
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: listed }
    }));
    const { model, ws } = makeModels();
    await act(async () => {
      await model.peek();
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(model.instance?.id).toBe('i-1');
    // a Stop and an open from another machine: the account's instance is i-2 now
    listed = [other()];
    const before = server.calls.length;
    const WS2 = 'instances/i-2/workspace';
    const linked = workspace({
      instance_id: 'i-2',
      link: { ...workspace().link!, instance_id: 'i-2', local: 'demo' }
    });
    server.on(`GET ${WS2}`, () => ({
      status: 200,
      body: workspace({ instance_id: 'i-2', link: null, waiting: null })
    }));
    server.on(`PUT ${WS2}`, () => ({ status: 200, body: linked }));
    server.on(`POST ${WS2}/push`, () => ({
      status: 202,
      body: {
        job: job({
          instance_id: 'i-2',
          state: 'done',
          open_url: 'https://authoring.example/i-2/lab/tree/demo/train.ipynb'
        })
      }
    }));
    let url: string | null = null;
    await act(async () => {
      url = await openInCodeLab(
        { path: 'demo/train.ipynb', isFolder: false },
        model,
        ws,
        trans
      );
    });
    expect(url).toBe('https://authoring.example/i-2/lab/tree/demo/train.ipynb');
    expect(server.callsTo(`PUT ${WS2}`)[0].body).toEqual({ local: 'demo' });
    expect(server.callsTo(`POST ${WS2}/push`)[0].body).toEqual({
      open: 'train.ipynb'
    });
    expect(
      server.calls
        .slice(before)
        .map(c => `${c.method} ${c.path}`)
        .filter(call => call.includes('instances/i-1'))
    ).toEqual([]);
    expect(model.instance?.id).toBe('i-2');
  });

  it('Open in CodeLab on a panel never shown asks the server for the instance once', async () => {
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    server.on(`POST ${WS}/push`, () => ({
      status: 202,
      body: {
        job: job({
          state: 'done',
          open_url: 'https://authoring.example/i-1/lab/tree/demo/a.ipynb'
        })
      }
    }));
    const { model, ws } = makeModels();
    let url: string | null = null;
    await act(async () => {
      url = await openInCodeLab(
        { path: 'projects/demo/a.ipynb', isFolder: false },
        model,
        ws,
        trans
      );
    });
    expect(url).toBe('https://authoring.example/i-1/lab/tree/demo/a.ipynb');
    // the status, the catalogue and the instance: one look at each, no second GET instances
    expect(server.callsTo('GET status')).toHaveLength(1);
    expect(server.callsTo('GET images')).toHaveLength(1);
    expect(server.callsTo('GET instances')).toHaveLength(1);
    expect(server.callsTo(`POST ${WS}/push`)[0].body).toEqual({
      open: 'a.ipynb'
    });
  });

  it('Open in CodeLab on a panel shown still asks the server which instance the account has now', async () => {
    // i-1 still answers (no 404 to make the panel look again by itself)
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    server.on(`POST ${WS}/push`, () => ({
      status: 202,
      body: { job: job({ state: 'done', open_url: 'u1' }) }
    }));
    const { model, ws } = makeModels();
    await act(async () => {
      await model.refresh();
      await jest.advanceTimersByTimeAsync(10);
    });
    await act(async () => {
      FakeEventSource.latest().open();
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(model.instance?.id).toBe('i-1');
    const looks = server.callsTo('GET instances').length;
    // a Stop and an open from another machine, which the stream of i-1 does not tell
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [other()] }
    }));
    const WS2 = 'instances/i-2/workspace';
    server.on(`GET ${WS2}`, () => ({
      status: 200,
      body: workspace({
        instance_id: 'i-2',
        link: { ...workspace().link!, instance_id: 'i-2' }
      })
    }));
    server.on(`POST ${WS2}/push`, () => ({
      status: 202,
      body: { job: job({ instance_id: 'i-2', state: 'done', open_url: 'u2' }) }
    }));
    let url: string | null = null;
    await act(async () => {
      url = await openInCodeLab(
        { path: 'projects/demo/a.ipynb', isFolder: false },
        model,
        ws,
        trans
      );
    });
    expect(url).toBe('u2');
    expect(model.instance?.id).toBe('i-2');
    expect(server.callsTo('GET instances')).toHaveLength(looks + 1);
    expect(server.callsTo(`POST ${WS}/push`)).toHaveLength(0);
  });

  it('a 404 on the workspace makes the panel follow the server and say why', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 3_600_000)] }
    }));
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    const { model, ws } = makeModels();
    await act(async () => {
      await model.refresh();
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(ws.workspace?.link?.local).toBe('projects/demo');
    // ModelArts deleted i-1 behind the page's back and the account has i-2
    server.on(`POST ${WS}/push`, () => ({
      status: 404,
      body: { message: 'The instance i-1 does not exist.' }
    }));
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [other()] }
    }));
    server.on('GET instances/i-2/workspace', () => ({
      status: 200,
      body: workspace({ instance_id: 'i-2', link: null, waiting: null })
    }));
    let answer: IWorkspaceJob | null = job();
    await act(async () => {
      answer = await ws.run('push');
    });
    expect(answer).toBeNull();
    expect(model.instance?.id).toBe('i-2');
    expect(ws.instanceId).toBe('i-2');
    expect(ws.workspace?.instance_id).toBe('i-2');
    expect(ws.error).toMatch(
      /^The CodeLab instance i-1 does not exist any more .*shows the current one/
    );
    // the next push goes to the instance that exists
    server.on('POST instances/i-2/workspace/push', () => ({
      status: 202,
      body: { job: job({ instance_id: 'i-2', state: 'done' }) }
    }));
    await act(async () => {
      answer = await ws.run('push');
    });
    expect(answer).not.toBeNull();
    expect(server.callsTo(`POST ${WS}/push`)).toHaveLength(1);
    expect(ws.error).toBeNull();
  });

  it('JupyterLab start with the panel closed: one GET instances, no workspace look until it shows', async () => {
    server.on(`GET ${WS}`, () => ({ status: 200, body: workspace() }));
    const { model, ws } = makeModels();
    await act(async () => {
      await model.peek();
      await jest.advanceTimersByTimeAsync(60_000);
    });
    expect(ws.instanceId).toBe('i-1');
    // the status-bar countdown's one request, nothing else (no double look, no poll)
    expect(server.calls.map(c => `${c.method} ${c.path}`)).toEqual([
      'GET instances'
    ]);

    // the panel shows: one full look, then the stream's first word one cheap look
    await act(async () => {
      await Promise.all([model.refresh(), ws.refresh()]);
      await jest.advanceTimersByTimeAsync(10);
    });
    expect(server.callsTo(`GET ${WS}`)).toHaveLength(1);
    await act(async () => {
      FakeEventSource.latest().open();
      await jest.advanceTimersByTimeAsync(60_000);
    });
    const looks = server.callsTo(`GET ${WS}`);
    expect(looks.map(c => c.query.get('waiting'))).toEqual([null, '0']);
  });
});
