import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { IInstance } from './tokens';

/**
 * Ask before `open` restarts the running instance with another image (409
 * `codelab.switch_required`). `message` is the server's explanation (which
 * instance, which images, what is lost); the panel adds nothing to the rule.
 */
export async function confirmSwitch(
  trans: TranslationBundle,
  message: string
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Switch CodeLab to another image?'),
    body: (
      <div className="jp-CodeLab-dialog">
        <p>{message}</p>
        <p>{trans.__('Save your work there first.')}</p>
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep current instance') }),
      Dialog.warnButton({ label: trans.__('Restart with new image') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}

/**
 * Ask before an extension that ends the lease sooner (the server answered 409:
 * it never shortens a lease unasked). `message` is the server's explanation.
 */
export async function confirmShorten(
  trans: TranslationBundle,
  hours: number,
  message: string
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Shorten the CodeLab lease?'),
    body: (
      <div className="jp-CodeLab-dialog">
        <p>{message}</p>
        <p>
          {trans._n(
            'Keeping it for %1 hour from now makes it stop sooner than it would.',
            'Keeping it for %1 hours from now makes it stop sooner than it would.',
            hours
          )}
        </p>
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep the current lease') }),
      Dialog.warnButton({ label: trans.__('Shorten') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}

/** Ask before stopping the instance. */
export async function confirmStop(
  trans: TranslationBundle,
  instance: IInstance
): Promise<boolean> {
  const result = await showDialog({
    title: trans.__('Stop CodeLab?'),
    body: (
      <div className="jp-CodeLab-dialog">
        <p>
          {trans.__(
            'Stopping %1 ends its kernels and terminals; unsaved changes in its notebooks are lost.',
            instance.name || instance.id
          )}
        </p>
        <p>
          {trans.__(
            'Saved files stay in its storage, but a free instance left unused for 72 hours is released with its files.'
          )}
        </p>
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({ label: trans.__('Stop') })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}
