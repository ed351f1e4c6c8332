import { KernelSpec, Session } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';
import React from 'react';

import { IRunningHere, runningOn } from '../kernels';
import { Section } from './Section';
import { useSignal } from './useModel';

/** The application's sessions and kernelspecs, as far as the section reads them. */
export interface IKernelSources {
  sessions: {
    running(): IterableIterator<Session.IModel>;
    readonly runningChanged: ISignal<unknown, unknown>;
  };
  kernelspecs: {
    readonly specs: KernelSpec.ISpecModels | null;
    readonly specsChanged: ISignal<unknown, unknown>;
  };
}

/** What a click on a listed notebook or console does. */
export interface IKernelsActions {
  open(item: IRunningHere): void;
}

function kindLabel(trans: TranslationBundle, type: string): string {
  switch (type) {
    case 'notebook':
      return trans.__('Notebook');
    case 'console':
      return trans.__('Console');
    default:
      return type;
  }
}

/**
 * The local notebooks and consoles whose kernel runs on this instance, each
 * opened with a click; nothing while none does.
 */
export function KernelsSection(props: {
  instanceId: string;
  sources: IKernelSources;
  trans: TranslationBundle;
  actions: IKernelsActions;
}): JSX.Element | null {
  const { instanceId, sources, trans, actions } = props;
  useSignal(sources.sessions.runningChanged);
  useSignal(sources.kernelspecs.specsChanged);
  const items = runningOn(
    sources.sessions.running(),
    sources.kernelspecs.specs,
    instanceId
  );
  if (!items.length) {
    // nothing on the instance's kernels: the panel keeps its layout (the launcher shows the kernels)
    return null;
  }
  return (
    <Section
      id="kernels"
      title={trans.__('Running on this instance')}
      className="jp-CodeLab-kernels"
    >
      <ul
        className="jp-CodeLab-kernelList"
        aria-label={trans.__('Local notebooks and consoles on this instance')}
      >
        {items.map(item => (
          <li key={`${item.type}:${item.path}`}>
            <button
              type="button"
              className="jp-CodeLab-kernelItem"
              data-type={item.type}
              title={trans.__('Open %1', item.path)}
              onClick={() => actions.open(item)}
            >
              <span className="jp-CodeLab-kernelName jp-CodeLab-wrap">
                {item.name}
              </span>
              <span className="jp-CodeLab-kernelMeta jp-CodeLab-wrap">
                {kindLabel(trans, item.type)} · {item.kernel}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </Section>
  );
}
