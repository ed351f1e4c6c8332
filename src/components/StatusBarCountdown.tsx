import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

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
  const text = () => {
    const remaining = model.remainingMs;
    return remaining !== null
      ? trans.__('CodeLab %1', formatCountdown(remaining))
      : trans.__('CodeLab %1', instance.status.toLowerCase());
  };
  return (
    <button
      type="button"
      className={`jp-CodeLab-statusItem${model.expiring ? ' jp-mod-warning' : ''}`}
      title={trans.__('ModelArts CodeLab: time left before the instance stops')}
      onClick={props.onClick}
    >
      <Ticking model={model}>{text}</Ticking>
    </button>
  );
}
