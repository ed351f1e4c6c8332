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
        const title =
          left !== null
            ? trans.__('ModelArts CodeLab: time left before the instance stops')
            : trans.__('ModelArts CodeLab: the instance’s status');
        const text =
          left !== null
            ? trans.__('CodeLab %1', formatCountdown(left))
            : trans.__('CodeLab: %1', statusLabel(trans, instance.status));
        return onClick ? (
          <button
            type="button"
            className={leaseClass(model, 'jp-CodeLab-statusItem')}
            title={title}
            data-status={instance.status}
            onClick={onClick}
          >
            {text}
          </button>
        ) : (
          <LeaseTimer
            model={model}
            className="jp-CodeLab-statusItem"
            title={title}
          >
            {text}
          </LeaseTimer>
        );
      }}
    </Ticking>
  );
}

/**
 * The lease countdown as a timer (the panel's card and the notebook toolbar): a role screen
 * readers know, not read out each second, and the warning class in the lease's last minutes.
 */
export function LeaseTimer(props: {
  model: CodeLabModel;
  className: string;
  title: string;
  children: React.ReactNode;
}): JSX.Element {
  return (
    <span
      className={leaseClass(props.model, props.className)}
      role="timer"
      aria-live="off"
      title={props.title}
    >
      {props.children}
    </span>
  );
}

/** `className`, with the warning class while the lease is in its last minutes. */
function leaseClass(model: CodeLabModel, className: string): string {
  return model.expiring ? `${className} jp-mod-warning` : className;
}
