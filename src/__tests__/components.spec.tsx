import '@testing-library/jest-dom';
import { nullTranslator } from '@jupyterlab/translation';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import React from 'react';

import { CodeLabSidebar, IPanelActions } from '../components/CodeLabSidebar';
import { StatusBarCountdown } from '../components/StatusBarCountdown';
import { CodeLabModel } from '../model';
import {
  FakeEventSource,
  FakeServer,
  instance,
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
    actions = {
      open: jest.fn(),
      stop: jest.fn(),
      extend: jest.fn(),
      copySshConfig: jest.fn(),
      copySshCommand: jest.fn()
    };
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  async function renderPanel() {
    const model = new CodeLabModel({
      serverSettings: server.settings(),
      createEventSource: url => new FakeEventSource(url)
    });
    render(<CodeLabSidebar model={model} trans={trans} actions={actions} />);
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

  it('validates the shared URL as you type and disables Open when invalid', async () => {
    const model = await renderPanel();
    const field = screen.getByLabelText('Notebook URL');
    const open = screen.getByRole('button', { name: 'Open CodeLab' });

    fireEvent.change(field, { target: { value: 'ftp://example.com/a.ipynb' } });
    expect(field).toHaveAttribute('aria-invalid', 'true');
    expect(
      screen.getByText('Only http:// and https:// URLs can be shared.')
    ).toBeInTheDocument();
    expect(open).toBeDisabled();

    fireEvent.change(field, {
      target: { value: 'https://github.com/o/r/blob/main/x.ipynb' }
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

  it('shows the four steps and the instance card while starting, then the countdown', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [instance({ status: 'CREATING' })] }
    }));
    const model = await renderPanel();
    const steps = screen.getByRole('list', { name: 'Start-up steps' });
    expect(
      within(steps)
        .getAllByRole('listitem')
        .map(li => li.getAttribute('data-state'))
    ).toEqual(['active', 'waiting', 'waiting', 'waiting']);
    expect(screen.getByText('Step 1 of 4: Storage')).toBeInTheDocument();

    await act(async () => {
      FakeEventSource.latest().send(
        'instance',
        running(Date.now(), 5 * 60_000)
      );
    });
    expect(screen.getByText('All four steps are done.')).toBeInTheDocument();
    const timer = screen.getByRole('timer');
    expect(timer).toHaveTextContent('5:00');
    expect(timer).toHaveClass('jp-mod-warning');
    await act(async () => {
      await jest.advanceTimersByTimeAsync(2_000);
    });
    expect(timer).toHaveTextContent('4:58');
    expect(
      screen.getByRole('link', { name: 'Open in new tab' })
    ).toHaveAttribute('href', 'https://authoring.example/i-1/lab');

    fireEvent.change(screen.getByLabelText('Keep running for'), {
      target: { value: '4' }
    });
    fireEvent.click(screen.getByRole('button', { name: 'Extend' }));
    expect(actions.extend).toHaveBeenCalledWith(4);
    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    expect(actions.stop).toHaveBeenCalled();
    model.dispose();
  });

  it('shows the failure reason with Retry', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: {
        instances: [
          instance({
            status: 'CREATE_FAILED',
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
    fireEvent.click(
      within(alert as HTMLElement).getByRole('button', { name: 'Retry' })
    );
    expect(actions.open).toHaveBeenCalled();
    model.dispose();
  });

  it('shows the SSH config with copy buttons, or a note without SSH', async () => {
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 3_600_000)] }
    }));
    server.on('GET instances/i-1/ssh-config', () => ({
      status: 200,
      body: 'Host codelab\n  HostName dev.example.com\n  Port 31022\n'
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
    expect(actions.copySshCommand).toHaveBeenCalled();

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

describe('StatusBarCountdown', () => {
  it('shows the time left and warns', async () => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    const server = new FakeServer();
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 3 * 60_000)] }
    }));
    const model = new CodeLabModel({
      serverSettings: server.settings(),
      createEventSource: url => new FakeEventSource(url)
    });
    const onClick = jest.fn();
    render(
      <StatusBarCountdown model={model} trans={trans} onClick={onClick} />
    );
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
