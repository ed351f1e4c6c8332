import '@testing-library/jest-dom';
import { nullTranslator } from '@jupyterlab/translation';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import { Signal } from '@lumino/signaling';
import React from 'react';

import { CodeLabSidebar, IPanelActions } from '../components/CodeLabSidebar';
import { launchHint } from '../components/LaunchSection';
import { LeaseCountdown } from '../components/LeaseCountdown';
import { useSignal } from '../components/useModel';
import { SshInstaller } from '../sshinstall';
import {
  FakeEventSource,
  FakeServer,
  IMAGES,
  instance,
  panelActions,
  fakeTranslator,
  running,
  status
} from './fakes';

const trans = nullTranslator.load('codelab_ext');

describe('CodeLabSidebar', () => {
  let server: FakeServer;
  let actions: jest.Mocked<IPanelActions>;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    server = new FakeServer();
    FakeEventSource.instances = [];
    actions = panelActions();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  async function renderPanel() {
    const model = server.model();
    render(
      <CodeLabSidebar
        model={model}
        trans={trans}
        actions={actions}
        installer={new SshInstaller(jest.fn())}
      />
    );
    await act(async () => {
      await model.refresh();
      await jest.advanceTimersByTimeAsync(1);
    });
    return model;
  }

  it('asks to sign in when no credentials are configured, with a password field for the SK', async () => {
    server.on('GET status', () => ({ status: 200, body: status(false) }));
    server.on('PUT credentials', () => ({
      status: 400,
      body: { message: 'The secret key does not match the access key.' }
    }));
    const model = await renderPanel();
    const sk = screen.getByLabelText('Secret key (SK)');
    expect(sk).toHaveAttribute('type', 'password');
    expect(screen.queryByText('Open CodeLab')).toBeNull();

    fireEvent.change(screen.getByLabelText('Access key (AK)'), {
      target: { value: 'AK' }
    });
    fireEvent.change(sk, { target: { value: 'SK' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
      await jest.advanceTimersByTimeAsync(1);
    });
    expect(screen.getByRole('alert')).toHaveTextContent(
      'The secret key does not match the access key.'
    );
    model.dispose();
  });

  it('names the demo account and offers it again after a sign-out (emulator)', async () => {
    let configured = true;
    server.on('GET status', () => ({
      status: 200,
      body: { ...status(configured), demo_account: configured }
    }));
    server.on('DELETE credentials', () => {
      configured = false;
      return { status: 204, body: '' };
    });
    server.on('POST credentials/demo', () => {
      configured = true;
      return { status: 200, body: { ...status(true), demo_account: true } };
    });
    const model = await renderPanel();
    expect(
      screen.getByText('demo account of the emulator')
    ).toBeInTheDocument();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
      await jest.advanceTimersByTimeAsync(1);
    });
    const demo = screen.getByRole('button', { name: 'Use the demo account' });
    await act(async () => {
      fireEvent.click(demo);
      await jest.advanceTimersByTimeAsync(1);
    });
    expect(model.signedIn).toBe(true);
    expect(
      screen.getByText('demo account of the emulator')
    ).toBeInTheDocument();
    model.dispose();
  });

  it('offers the server’s regions in the sign-in form and warns about any other', async () => {
    server.on('GET status', () => ({ status: 200, body: status(false) }));
    const model = await renderPanel();
    const input = screen.getByLabelText('Region');
    expect(input).toHaveValue('cn-north-4');
    expect(input).toHaveAttribute('list', 'codelab-regions');
    const list = document.getElementById('codelab-regions');
    expect(list).not.toBeNull();
    const offered = Array.from(list!.querySelectorAll('option')).map(o =>
      o.getAttribute('value')
    );
    expect(offered).toEqual(status().regions);
    expect(screen.queryByText(/is not a region ModelArts/)).toBeNull();
    // free text is allowed, with a warning; a known region clears it
    fireEvent.change(input, { target: { value: 'cn-nort-4' } });
    expect(
      screen.getByText(
        '“cn-nort-4” is not a region ModelArts is known to run in: the server will refuse it.'
      )
    ).toBeInTheDocument();
    fireEvent.change(input, { target: { value: 'af-north-1' } });
    expect(screen.queryByText(/is not a region ModelArts/)).toBeNull();
    model.dispose();
  });

  it('shows the account and the images grouped, default first, with badges', async () => {
    const model = await renderPanel();
    expect(screen.getByText('AKAB****WXYZ')).toBeInTheDocument();
    const groups = screen.getAllByRole('group');
    expect(
      groups.map(g => g.querySelector('legend')?.firstChild?.textContent)
    ).toEqual(['CPU', 'GPU', 'Ascend']);
    const cpu = within(groups[0]).getAllByRole('radio');
    expect(cpu[0]).toBeChecked();
    expect(within(groups[0]).getByText('default')).toBeInTheDocument();
    expect(within(groups[2]).getByText('aarch64')).toBeInTheDocument();
    expect(within(groups[2]).queryByText('SSH')).toBeNull();

    fireEvent.change(screen.getByLabelText('Search images'), {
      target: { value: 'pytorch' }
    });
    expect(screen.getAllByRole('radio')).toHaveLength(1);
    fireEvent.click(screen.getByRole('radio'));
    expect(model.selectedImageId).toBe('gpu-1');
    model.dispose();
  });

  it("checks the shared URL with the server as you type, shows the server's message and disables Open when refused", async () => {
    server.on('GET share-url', call =>
      call.query.get('url')?.startsWith('ftp:')
        ? {
            status: 400,
            body: { message: "'url' must be an http:// or https:// URL." }
          }
        : {
            status: 200,
            body: {
              share_url: 'https://raw.githubusercontent.com/o/r/main/x.ipynb',
              converted: true,
              looks_like_notebook: true
            }
          }
    );
    const model = await renderPanel();
    const field = screen.getByLabelText('Shared notebook URL (optional)');
    const open = screen.getByRole('button', { name: 'Open CodeLab' });

    fireEvent.change(field, { target: { value: 'ftp://example.com/a.ipynb' } });
    expect(screen.getByText('Checking the URL…')).toBeInTheDocument();
    await act(async () => {
      await jest.advanceTimersByTimeAsync(300);
    });
    expect(field).toHaveAttribute('aria-invalid', 'true');
    expect(
      screen.getByText("'url' must be an http:// or https:// URL.")
    ).toBeInTheDocument();
    expect(open).toBeDisabled();

    fireEvent.change(field, {
      target: { value: 'https://github.com/o/r/blob/main/x.ipynb' }
    });
    await act(async () => {
      await jest.advanceTimersByTimeAsync(300);
    });
    expect(field).toHaveAttribute('aria-invalid', 'false');
    expect(
      screen.getByText(
        'Will be sent as: https://raw.githubusercontent.com/o/r/main/x.ipynb'
      )
    ).toBeInTheDocument();
    expect(open).toBeEnabled();
    fireEvent.click(open);
    expect(actions.open).toHaveBeenCalledTimes(1);
    model.dispose();
  });

  it('shows the four steps with Cancel while starting, then the running card with the countdown', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [instance({ status: 'CREATING', status_class: 'changing' })]
      }
    }));
    const model = await renderPanel();
    const steps = screen.getByRole('list', { name: 'Start-up steps' });
    expect(
      within(steps)
        .getAllByRole('listitem')
        .map(li => li.getAttribute('data-state'))
    ).toEqual(['active', 'waiting', 'waiting', 'waiting']);
    expect(screen.getByText('Step 1 of 4: Storage')).toBeInTheDocument();
    // starting: the steps are the first block, no picker, Cancel stops
    expect(document.querySelector('[data-state]')).toHaveAttribute(
      'data-state',
      'starting'
    );
    expect(screen.queryByLabelText('Search images')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(actions.stop).toHaveBeenCalledTimes(1);

    await act(async () => {
      FakeEventSource.latest().send(
        'instance',
        running(Date.now(), 5 * 60_000)
      );
    });
    // running: no stale steps, the card on top, "Open another image" folded below
    expect(screen.queryByRole('list', { name: 'Start-up steps' })).toBeNull();
    expect(screen.getByText('Running')).toBeInTheDocument();
    expect(screen.getByText('Open another image')).toBeInTheDocument();
    expect(screen.queryByLabelText('Search images')).toBeNull();
    const timer = screen.getByRole('timer');
    expect(timer).toHaveTextContent('5:00');
    expect(timer).toHaveClass('jp-CodeLab-countdown');
    expect(timer).toHaveClass('jp-mod-warning');
    expect(timer).toHaveAttribute('aria-live', 'off');
    await act(async () => {
      await jest.advanceTimersByTimeAsync(2_000);
    });
    expect(timer).toHaveTextContent('4:58');
    expect(screen.getByRole('link', { name: 'Open CodeLab' })).toHaveAttribute(
      'href',
      'https://authoring.example/i-1/lab'
    );

    fireEvent.change(screen.getByLabelText('Keep running for'), {
      target: { value: '4' }
    });
    fireEvent.click(screen.getByRole('button', { name: 'Extend' }));
    expect(actions.extend).toHaveBeenCalledWith(4);
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(actions.stop).toHaveBeenCalledTimes(2);
    model.dispose();
  });

  it('says a start failed, with the reason, Start and another image, and no steps', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [
          instance({
            status: 'CREATE_FAILED',
            status_class: 'failed',
            fail_reason: 'Flavor sold out (ModelArts.6329)'
          })
        ]
      }
    }));
    const model = await renderPanel();
    const alert = screen
      .getByText('Flavor sold out (ModelArts.6329)')
      .closest('[role="alert"]');
    expect(alert).not.toBeNull();
    expect(screen.getByText('Creation failed')).toBeInTheDocument();
    expect(screen.queryByRole('list', { name: 'Start-up steps' })).toBeNull();
    expect(screen.queryByText(/steps are done/)).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Start' }));
    expect(actions.start).toHaveBeenCalled();
    fireEvent.click(screen.getByText('Open another image'));
    expect(screen.getByLabelText('Search images')).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Open with this image' })
    ).toBeEnabled();
    model.dispose();
  });

  it('shows the SSH config with copy buttons, or a note without SSH', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [
          {
            ...running(Date.now(), 3_600_000),
            ssh_command: 'ssh -i ~/.ssh/KeyPair-1.pem -p 31022 ma-user@h'
          }
        ]
      }
    }));
    server.on('GET instances/i-1/ssh-config', () => ({
      status: 200,
      body: 'Host codelab-cn-north-4\n  HostName dev.example.com\n  Port 31022\n'
    }));
    const model = await renderPanel();
    await act(async () => {
      await jest.advanceTimersByTimeAsync(1);
    });
    expect(screen.getByLabelText('SSH config')).toHaveTextContent(
      'HostName dev.example.com'
    );
    fireEvent.click(screen.getByRole('button', { name: 'Copy SSH config' }));
    fireEvent.click(screen.getByRole('button', { name: 'Copy ssh command' }));
    expect(actions.copySshConfig).toHaveBeenCalled();
    // the server's command, shown and copied as it is
    expect(actions.copySshCommand).toHaveBeenCalledWith(
      'ssh -i ~/.ssh/KeyPair-1.pem -p 31022 ma-user@h'
    );
    // the alias the server rendered, for VS Code and the CLI alike
    expect(
      screen.getByRole('link', { name: 'Open in VS Code' })
    ).toHaveAttribute(
      'href',
      'vscode://vscode-remote/ssh-remote+codelab-cn-north-4/home/ma-user/work'
    );
    fireEvent.click(screen.getByRole('button', { name: 'Install SSH config' }));
    expect(actions.installSshConfig).toHaveBeenCalled();

    await act(async () => {
      FakeEventSource.latest().send('instance', {
        ...running(Date.now(), 3_600_000),
        ssh: null
      });
    });
    expect(screen.getByRole('note')).toHaveTextContent(
      'This instance has no SSH endpoint.'
    );
    model.dispose();
  });
});

describe('LeaseCountdown', () => {
  it('in the status bar: shows a readable status, never the raw value', async () => {
    const server = new FakeServer();
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [
          instance({ status: 'START_FAILED', status_class: 'failed' })
        ]
      }
    }));
    const model = server.model();
    render(<LeaseCountdown model={model} trans={trans} onClick={jest.fn()} />);
    await act(async () => {
      await model.refresh();
    });
    const item = screen.getByRole('button');
    expect(item).toHaveTextContent('CodeLab: Start failed');
    expect(item.textContent).not.toMatch(/start_failed|START_FAILED/);
    model.dispose();
  });

  it('in the status bar: shows the time left and warns', async () => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    const server = new FakeServer();
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 3 * 60_000)] }
    }));
    const model = server.model();
    const onClick = jest.fn();
    render(<LeaseCountdown model={model} trans={trans} onClick={onClick} />);
    await act(async () => {
      await model.refresh();
    });
    const item = screen.getByRole('button');
    expect(item).toHaveTextContent('CodeLab 3:00');
    expect(item).toHaveClass('jp-mod-warning');
    fireEvent.click(item);
    expect(onClick).toHaveBeenCalled();
    model.dispose();
    jest.useRealTimers();
  });
});

describe('LeaseCountdown in the status bar and the notebook toolbar', () => {
  let server: FakeServer;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    server = new FakeServer();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  /** Both places on one model, the lease ending `remainingMs` from now. */
  async function both(remainingMs: number | null, bundle = trans) {
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [
          remainingMs === null
            ? { ...running(Date.now(), 0), lease: null }
            : running(Date.now(), remainingMs)
        ]
      }
    }));
    const model = server.model();
    const onClick = jest.fn();
    render(
      <>
        <div data-testid="statusbar">
          <LeaseCountdown model={model} trans={bundle} onClick={onClick} />
        </div>
        <div data-testid="toolbar">
          <LeaseCountdown model={model} trans={bundle} />
        </div>
      </>
    );
    await act(async () => {
      await model.refresh();
    });
    const statusbar = within(screen.getByTestId('statusbar'));
    const toolbar = within(screen.getByTestId('toolbar'));
    return { model, onClick, statusbar, toolbar };
  }

  const advance = async (ms: number) =>
    act(async () => {
      await jest.advanceTimersByTimeAsync(ms);
    });

  it('warns in both places from the warning threshold on, and only then', async () => {
    // the default threshold: 10 minutes; two seconds before it
    const { model, statusbar, toolbar } = await both(10 * 60_000 + 2_000);
    const button = statusbar.getByRole('button');
    const timer = toolbar.getByRole('timer');
    expect(button).toHaveTextContent(/^CodeLab 10:02$/);
    expect(timer).toHaveTextContent(/^CodeLab 10:02$/);
    for (const item of [button, timer]) {
      expect(item).toHaveClass('jp-CodeLab-statusItem');
      expect(item).not.toHaveClass('jp-mod-warning');
    }
    await advance(1_000);
    expect(timer).not.toHaveClass('jp-mod-warning'); // 10:01 left
    await advance(2_000);
    expect(timer).toHaveTextContent(/^CodeLab 9:59$/);
    expect(button).toHaveTextContent(/^CodeLab 9:59$/);
    expect(timer).toHaveClass('jp-mod-warning');
    expect(button).toHaveClass('jp-mod-warning');
    // the threshold is the user's setting: 5 minutes, no warning at 9:59
    act(() => {
      model.setSettings({ warningMinutes: 5 });
    });
    expect(timer).not.toHaveClass('jp-mod-warning');
    expect(button).not.toHaveClass('jp-mod-warning');
    model.dispose();
  });

  it('the toolbar: a timer not read out each second; the status bar: a button', async () => {
    const { model, onClick, statusbar, toolbar } = await both(3_600_000);
    const timer = toolbar.getByRole('timer');
    expect(timer.tagName).toBe('SPAN');
    expect(timer).toHaveAttribute('aria-live', 'off');
    expect(toolbar.queryByRole('button')).toBeNull();
    const button = statusbar.getByRole('button');
    expect(statusbar.queryByRole('timer')).toBeNull();
    expect(button).toHaveAttribute('type', 'button');
    expect(button).toHaveAttribute('data-status', 'RUNNING');
    for (const item of [button, timer]) {
      expect(item).toHaveAttribute(
        'title',
        'ModelArts CodeLab: time left before the instance stops'
      );
      expect(item).toHaveTextContent(/^CodeLab 1:00:00$/);
    }
    fireEvent.click(button);
    expect(onClick).toHaveBeenCalledTimes(1);
    model.dispose();
  });

  it('without a countdown: the status in the status bar, nothing in the toolbar', async () => {
    const { model, statusbar } = await both(null);
    expect(statusbar.getByRole('button')).toHaveTextContent(
      /^CodeLab: Running$/
    );
    expect(statusbar.getByRole('button')).toHaveAttribute(
      'title',
      'ModelArts CodeLab: the instance’s status'
    );
    expect(screen.getByTestId('toolbar')).toBeEmptyDOMElement();
    model.dispose();
  });

  it('says everything through the translation bundle', async () => {
    const zh = fakeTranslator('zh-CN').load('codelab_ext');
    const { model, statusbar, toolbar } = await both(3_600_000, zh);
    for (const item of [
      statusbar.getByRole('button'),
      toolbar.getByRole('timer')
    ]) {
      expect(item).toHaveTextContent(/^\[zh-CN\] CodeLab 1:00:00$/);
      expect(item.getAttribute('title')).toMatch(/^\[zh-CN\] ModelArts/);
    }
    model.dispose();
  });

  it('says the status through the translation bundle too', async () => {
    const zh = fakeTranslator('zh-CN').load('codelab_ext');
    const { model, statusbar } = await both(null, zh);
    const button = statusbar.getByRole('button');
    expect(button).toHaveTextContent(/^\[zh-CN\] CodeLab: \[zh-CN\] /);
    expect(button.getAttribute('title')).toMatch(/^\[zh-CN\] ModelArts/);
    model.dispose();
  });
});

describe('useSignal', () => {
  it('shows what changed between the first render and the subscription', () => {
    const owner = {};
    const changed = new Signal<object, void>(owner);
    let value = 'loading';
    function Probe(): JSX.Element {
      useSignal(changed);
      const shown = value;
      if (shown === 'loading') {
        // the answer arrives after this render read the state, before its effect connects
        value = 'loaded';
        changed.emit();
      }
      return <span>{shown}</span>;
    }
    render(<Probe />);
    expect(screen.getByText('loaded')).toBeInTheDocument();
    act(() => {
      value = 'later';
      changed.emit();
    });
    expect(screen.getByText('later')).toBeInTheDocument();
  });
});

describe('launchHint', () => {
  const lease = {
    default_ms: 3_600_000,
    min_ms: 3_600_000,
    max_ms: 259_200_000
  };

  it("says what the server answered: the image's free flavor and the lease rule", () => {
    const image = {
      ...IMAGES[1],
      free_flavor: {
        id: 'modelarts.vm.cpu.free',
        description: 'CPU: 2 vCPUs | 8 GiB (free)',
        sold_out: false
      }
    };
    expect(launchHint(image, lease, trans)).toBe(
      'CPU · x86_64 · CPU: 2 vCPUs | 8 GiB (free) · SSH. One free instance per account; it stops after 1 hour unless you extend it (up to 72 hours).'
    );
    expect(
      launchHint(
        { ...image, free_flavor: { ...image.free_flavor, sold_out: true } },
        { ...lease, default_ms: 7_200_000, max_ms: 86_400_000 },
        trans
      )
    ).toContain(
      'sold out right now · SSH. One free instance per account; it stops after 2 hours unless you extend it (up to 24 hours).'
    );
  });

  it('invents nothing the server did not say', () => {
    expect(launchHint({ ...IMAGES[3], free_flavor: null }, null, trans)).toBe(
      'CPU · aarch64 · no free flavor listed for this image. One free instance per account.'
    );
    // flavors not read at all: no flavor words
    expect(launchHint(IMAGES[3], null, trans)).toBe(
      'CPU · aarch64. One free instance per account.'
    );
  });
});
