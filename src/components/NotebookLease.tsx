import { TranslationBundle } from '@jupyterlab/translation';
import { ISignal } from '@lumino/signaling';
import React from 'react';

import { specInstance } from '../kernels';
import { CodeLabModel } from '../model';
import { IKernelSources } from './KernelsSection';
import { LeaseCountdown } from './LeaseCountdown';
import { ActionButton } from './Section';
import { useModel, useSignal } from './useModel';

/** The kernel of one notebook, as far as the toolbar item reads it. */
export interface IDocumentKernel {
  /** The name of the notebook's kernel ('' without one). */
  kernelName(): string;
  readonly kernelChanged: ISignal<unknown, unknown>;
}

/**
 * In the toolbar of a notebook on the instance's kernel: the lease countdown
 * and Extend (the `codelab:extend` command and its dialog). Nothing for other
 * notebooks, or when the instance does not run.
 */
export function NotebookLease(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  kernel: IDocumentKernel;
  kernelspecs: IKernelSources['kernelspecs'];
  onExtend: () => void;
}): JSX.Element | null {
  const { model, trans, kernel, kernelspecs } = props;
  useModel(model);
  useSignal(kernel.kernelChanged);
  useSignal(kernelspecs.specsChanged);
  const instance = model.instance;
  if (
    !instance ||
    !model.isRunning ||
    specInstance(kernel.kernelName(), kernelspecs.specs) !== instance.id
  ) {
    return null;
  }
  return (
    <div className="jp-CodeLab-notebookLease">
      <LeaseCountdown model={model} trans={trans} />
      <ActionButton
        title={trans.__('Keep the CodeLab instance running longer')}
        disabled={model.busy !== null}
        onClick={props.onExtend}
      >
        {trans.__('Extend')}
      </ActionButton>
    </div>
  );
}
