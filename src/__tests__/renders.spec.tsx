/**
 * The sidebar does not re-render every second: while the lease counts down,
 * only the countdowns (and the elapsed time of an active step) re-render.
 *
 * Every component that shows model state calls `useModel` once per render, and
 * every piece that shows a countdown calls `useTick` once per render: counting
 * those calls counts renders.
 */
import { nullTranslator } from '@jupyterlab/translation';
import { act, render, screen } from '@testing-library/react';
import React from 'react';

import { IPanelActions } from '../components/CodeLabSidebar';
import { CodeLabModel } from '../model';
import { SshInstaller } from '../sshinstall';
import {
  FakeEventSource,
  FakeServer,
  instance,
  panelActions,
  running
} from './fakes';

const renders = { model: 0, tick: 0 };

jest.mock('../components/useModel', () => {
  const actual = jest.requireActual('../components/useModel');
  return {
    ...actual,
    useModel: (model: unknown) => {
      renders.model++;
      return actual.useModel(model);
    },
    useTick: (model: unknown) => {
      renders.tick++;
      return actual.useTick(model);
    }
  };
});

// imported after the mock on purpose (jest hoists jest.mock anyway)
import { CodeLabSidebar } from '../components/CodeLabSidebar';
import { LeaseCountdown } from '../components/LeaseCountdown';

const trans = nullTranslator.load('codelab_ext');

describe('renders per second', () => {
  let server: FakeServer;

  beforeEach(() => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    server = new FakeServer();
    FakeEventSource.instances = [];
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  async function mount(current: ReturnType<typeof instance>) {
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [current] }
    }));
    server.on('GET instances/i-1/ssh-config', () => ({
      status: 200,
      body: 'Host codelab\n  HostName dev.example.com\n'
    }));
    const model = server.model();
    const actions: IPanelActions = panelActions();
    render(
      <>
        <CodeLabSidebar
          model={model}
          trans={trans}
          actions={actions}
          installer={new SshInstaller(jest.fn())}
        />
        <LeaseCountdown model={model} trans={trans} onClick={jest.fn()} />
      </>
    );
    await act(async () => {
      await model.refresh();
      await jest.advanceTimersByTimeAsync(100);
    });
    return model;
  }

  /** Renders during `seconds`, one act() per second so React commits each tick. */
  async function count(model: CodeLabModel, seconds: number) {
    let changes = 0;
    let ticks = 0;
    const onChange = () => changes++;
    const onTick = () => ticks++;
    model.stateChanged.connect(onChange);
    model.tick.connect(onTick);
    renders.model = 0;
    renders.tick = 0;
    for (let i = 0; i < seconds; i++) {
      await act(async () => {
        await jest.advanceTimersByTimeAsync(1_000);
      });
    }
    model.stateChanged.disconnect(onChange);
    model.tick.disconnect(onTick);
    return { changes, ticks, ...renders };
  }

  it('while the lease counts down, only the two countdowns re-render', async () => {
    const model = await mount(running(Date.now(), 3_600_000));
    const timer = screen.getByRole('timer');
    expect(timer).toHaveTextContent('59:59');

    const seen = await count(model, 10);
    expect(seen.ticks).toBe(10);
    expect(seen.changes).toBe(0);
    // no section of the sidebar, nor the status-bar item, rendered again
    expect(seen.model).toBe(0);
    // the panel's countdown and the status bar's: once a second each
    expect(seen.tick).toBe(20);
    expect(timer).toHaveTextContent('59:49');
    expect(screen.getByText(/^CodeLab 59:49$/)).toBeInTheDocument();
    model.dispose();
  });

  it('while a step runs, only its elapsed time and the status bar re-render', async () => {
    const model = await mount(
      instance({ status: 'CREATING', status_class: 'changing' })
    );
    const seen = await count(model, 10);
    expect(seen.ticks).toBe(10);
    expect(seen.model).toBe(0);
    // the active step's elapsed time and the status-bar item
    expect(seen.tick).toBe(20);
    model.dispose();
  });

  it('a change the panel shows still renders the sections once', async () => {
    const model = await mount(running(Date.now(), 3_600_000));
    renders.model = 0;
    await act(async () => {
      model.setShareUrl('https://example.com/a.ipynb');
    });
    expect(renders.model).toBeGreaterThan(0);
    model.dispose();
  });
});
