import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { statusLabel } from '../labels';
import { formatCountdown } from '../logic';
import { CodeLabModel } from '../model';
import { Ticking } from './Ticking';
import { useModel } from './useModel';

/** The status-bar text: the lease countdown (or the start-up status). */
export function StatusBarCountdown(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onClick: () => void;
}): JSX.Element | null {
  const { model, trans } = props;
  useModel(model);
  const instance = model.instance;
  if (!instance) {
    return null;
  }
  const remaining = model.remainingMs;
  const text = () => {
    const left = model.remainingMs;
    return left !== null
      ? trans.__('CodeLab %1', formatCountdown(left))
      : trans.__('CodeLab: %1', statusLabel(trans, instance.status));
  };
  return (
    <button
      type="button"
      className={`jp-CodeLab-statusItem${model.expiring ? ' jp-mod-warning' : ''}`}
      title={
        remaining !== null
          ? trans.__('ModelArts CodeLab: time left before the instance stops')
          : trans.__('ModelArts CodeLab: the instance’s status')
      }
      data-status={instance.status}
      onClick={props.onClick}
    >
      <Ticking model={model}>{text}</Ticking>
    </button>
  );
}
