import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { statusLabel } from '../labels';
import { formatCountdown } from '../logic';
import { CodeLabModel } from '../model';
import { Ticking } from './Ticking';
import { useModel } from './useModel';

/**
 * The lease countdown outside the panel, "CodeLab 1:23:45" (the status bar's and the
 * notebook toolbar's): one place for its markup, its title, its warning class in the
 * lease's last minutes (`model.expiring`) and its strings. Only the countdown re-renders
 * each second.
 *
 * With `onClick` (the status bar): a button that says the instance's status while there
 * is no countdown. Without (the toolbar): a timer, not read out each second, and nothing
 * while there is no countdown. Nothing without an instance.
 */
export function LeaseCountdown(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onClick?: () => void;
}): JSX.Element | null {
  const { model, trans, onClick } = props;
  useModel(model);
  const instance = model.instance;
  if (!instance) {
    return null;
  }
  return (
    <Ticking model={model}>
      {() => {
        const left = model.remainingMs;
        if (left === null && !onClick) {
          return null;
        }
        const common = {
          className: `jp-CodeLab-statusItem${model.expiring ? ' jp-mod-warning' : ''}`,
          title:
            left !== null
              ? trans.__(
                  'ModelArts CodeLab: time left before the instance stops'
                )
              : trans.__('ModelArts CodeLab: the instance’s status'),
          'data-status': instance.status
        };
        const text =
          left !== null
            ? trans.__('CodeLab %1', formatCountdown(left))
            : trans.__('CodeLab: %1', statusLabel(trans, instance.status));
        return onClick ? (
          <button type="button" {...common} onClick={onClick}>
            {text}
          </button>
        ) : (
          <span {...common} role="timer" aria-live="off">
            {text}
          </span>
        );
      }}
    </Ticking>
  );
}
