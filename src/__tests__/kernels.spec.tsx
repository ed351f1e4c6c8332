import '@testing-library/jest-dom';
import { KernelSpec, Session } from '@jupyterlab/services';
import { nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';
import { act, fireEvent, render, screen, within } from '@testing-library/react';
import React from 'react';

import { IKernelSources, KernelsSection } from '../components/KernelsSection';
import { NotebookLease } from '../components/NotebookLease';
import { FakeServer, running } from './fakes';
import { followInstanceKernels, runningOn } from '../kernels';

const trans = nullTranslator.load('codelab_ext');

function spec(
  name: string,
  display: string,
  instanceId?: string
): KernelSpec.ISpecModel {
  return {
    name,
    display_name: display,
    language: 'python',
    argv: [],
    resources: {},
    metadata: instanceId
      ? { codelab: { instance_id: instanceId, remote_kernel: 'python3' } }
      : {}
  };
}

const SPECS: KernelSpec.ISpecModels = {
  default: 'python3',
  kernelspecs: {
    python3: spec('python3', 'Python 3 (ipykernel)'),
    'codelab-python3': spec(
      'codelab-python3',
      'Python 3 (ipykernel) (CodeLab)',
      'i-1'
    ),
    'codelab-other': spec('codelab-other', 'Other (CodeLab)', 'i-2'),
    // a name with the prefix but no CodeLab metadata is not the instance's
    'codelab-local': spec('codelab-local', 'Looks alike')
  }
};

function session(
  path: string,
  kernel: string,
  type = 'notebook'
): Session.IModel {
  return {
    id: `s-${path}`,
    name: path.split('/').pop()!,
    path,
    type,
    kernel: { id: `k-${path}`, name: kernel }
  };
}

class Sources implements IKernelSources {
  list: Session.IModel[] = [];
  specsModels: KernelSpec.ISpecModels | null = SPECS;
  changed = new Signal<this, Session.IModel[]>(this);
  specsSignal = new Signal<this, KernelSpec.ISpecModels>(this);
  sessions = {
    running: () => this.list[Symbol.iterator](),
    runningChanged: this.changed
  };
  get kernelspecs() {
    return { specs: this.specsModels, specsChanged: this.specsSignal };
  }
}

describe('runningOn', () => {
  it('keeps the sessions on this instance’s CodeLab kernels, by path', () => {
    const sessions = [
      session('work/b.ipynb', 'codelab-python3'),
      session('local.ipynb', 'python3'),
      session('other.ipynb', 'codelab-other'),
      session('alike.ipynb', 'codelab-local'),
      session('Console 1-abc', 'codelab-python3', 'console'),
      session('work/a.ipynb', 'codelab-python3')
    ];
    expect(runningOn(sessions, SPECS, 'i-1')).toEqual([
      {
        path: 'Console 1-abc',
        name: 'Console 1-abc',
        type: 'console',
        kernel: 'Python 3 (ipykernel) (CodeLab)'
      },
      {
        path: 'work/a.ipynb',
        name: 'a.ipynb',
        type: 'notebook',
        kernel: 'Python 3 (ipykernel) (CodeLab)'
      },
      {
        path: 'work/b.ipynb',
        name: 'b.ipynb',
        type: 'notebook',
        kernel: 'Python 3 (ipykernel) (CodeLab)'
      }
    ]);
    expect(runningOn(sessions, SPECS, 'i-2').map(s => s.path)).toEqual([
      'other.ipynb'
    ]);
    expect(runningOn(sessions, null, 'i-1')).toEqual([]);
    expect(runningOn(sessions, SPECS, '')).toEqual([]);
  });
});

describe('KernelsSection', () => {
  it('lists the notebooks and consoles on the instance, follows the sessions and opens one on click', () => {
    const sources = new Sources();
    const open = jest.fn();
    render(
      <KernelsSection
        instanceId="i-1"
        sources={sources}
        trans={trans}
        actions={{ open }}
      />
    );
    // none yet: no section (the panel keeps its layout)
    expect(screen.queryByRole('heading')).toBeNull();

    act(() => {
      sources.list = [
        session('work/train.ipynb', 'codelab-python3'),
        session('local.ipynb', 'python3'),
        session('Console 1-abc', 'codelab-python3', 'console')
      ];
      sources.changed.emit(sources.list);
    });
    expect(
      screen.getByRole('heading', { name: 'Running on this instance' })
    ).toBeInTheDocument();
    const list = screen.getByRole('list', {
      name: 'Local notebooks and consoles on this instance'
    });
    const items = within(list).getAllByRole('button');
    expect(items.map(b => b.textContent)).toEqual([
      'Console 1-abcConsole · Python 3 (ipykernel) (CodeLab)',
      'train.ipynbNotebook · Python 3 (ipykernel) (CodeLab)'
    ]);
    expect(screen.queryByText('local.ipynb')).toBeNull();

    fireEvent.click(within(list).getByTitle('Open work/train.ipynb'));
    expect(open).toHaveBeenCalledWith(
      expect.objectContaining({ path: 'work/train.ipynb', type: 'notebook' })
    );

    // the kernelspec went away (the instance stopped): nothing is listed any more
    act(() => {
      sources.specsModels = { default: 'python3', kernelspecs: {} };
      sources.specsSignal.emit(sources.specsModels);
    });
    expect(screen.queryByRole('list')).toBeNull();
    expect(screen.queryByRole('heading')).toBeNull();
  });
});

describe('followInstanceKernels', () => {
  it('reads the kernelspecs again when the instance starts or stops running', async () => {
    const owner = {};
    const changed = new Signal<object, { status: string } | null>(owner);
    const refreshSpecs = jest.fn(() => Promise.resolve());
    const stop = followInstanceKernels(changed, { refreshSpecs });
    changed.emit({ status: 'CREATING' });
    changed.emit({ status: 'STARTING' });
    expect(refreshSpecs).not.toHaveBeenCalled();
    changed.emit({ status: 'RUNNING' });
    changed.emit({ status: 'RUNNING' });
    expect(refreshSpecs).toHaveBeenCalledTimes(1);
    changed.emit({ status: 'STOPPING' });
    expect(refreshSpecs).toHaveBeenCalledTimes(2);
    changed.emit(null);
    stop();
    changed.emit({ status: 'RUNNING' });
    expect(refreshSpecs).toHaveBeenCalledTimes(2);
  });
});

describe('NotebookLease', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('shows the lease and Extend only on a notebook whose kernel runs on the instance', async () => {
    jest.useFakeTimers();
    jest.setSystemTime(1_700_000_000_000);
    const server = new FakeServer();
    server.on('GET instances', () => ({
      status: 200,
      body: { instances: [running(Date.now(), 2 * 3_600_000)] }
    }));
    const model = server.model();
    const sources = new Sources();
    const owner = {};
    const kernelChanged = new Signal<object, void>(owner);
    let kernel = 'python3';
    const onExtend = jest.fn();
    render(
      <NotebookLease
        model={model}
        trans={trans}
        kernel={{ kernelName: () => kernel, kernelChanged }}
        kernelspecs={sources.kernelspecs}
        onExtend={onExtend}
      />
    );
    await act(async () => {
      await model.refresh();
    });
    // a local kernel: nothing in the toolbar
    expect(screen.queryByRole('timer')).toBeNull();
    expect(screen.queryByRole('button')).toBeNull();

    act(() => {
      kernel = 'codelab-python3';
      kernelChanged.emit();
    });
    expect(screen.getByRole('timer')).toHaveTextContent('CodeLab 2:00:00');
    await act(async () => {
      await jest.advanceTimersByTimeAsync(61_000);
    });
    expect(screen.getByRole('timer')).toHaveTextContent('CodeLab 1:58:59');
    fireEvent.click(screen.getByRole('button', { name: 'Extend' }));
    expect(onExtend).toHaveBeenCalledTimes(1);

    // the kernel of another instance
    act(() => {
      kernel = 'codelab-other';
      kernelChanged.emit();
    });
    expect(screen.queryByRole('timer')).toBeNull();
    model.dispose();
  });
});
