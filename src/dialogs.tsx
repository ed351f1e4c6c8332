import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { IInstance } from './tokens';

/**
 * Ask before a destructive action: a title, the paragraphs that say what is
 * lost, Cancel (the default, also for Enter) and the action as a warn button.
 * Resolves true when the user chose the action.
 */
export async function askBeforeDestructive(options: {
  title: string;
  paragraphs: React.ReactNode[];
  cancel: string;
  action: string;
}): Promise<boolean> {
  const result = await showDialog({
    title: options.title,
    body: (
      <div className="jp-CodeLab-dialog">
        {options.paragraphs.map((text, i) => (
          <p key={i}>{text}</p>
        ))}
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: options.cancel }),
      Dialog.warnButton({ label: options.action })
    ],
    defaultButton: 0
  });
  return result.button.accept;
}

/**
 * Ask before `open` restarts the running instance with another image (409
 * `codelab.switch_required`). `message` is the server's explanation (which
 * instance, which images, what is lost); the panel adds nothing to the rule.
 */
export async function confirmSwitch(
  trans: TranslationBundle,
  message: string
): Promise<boolean> {
  return askBeforeDestructive({
    title: trans.__('Switch CodeLab to another image?'),
    paragraphs: [message, trans.__('Save your work there first.')],
    cancel: trans.__('Keep current instance'),
    action: trans.__('Restart with new image')
  });
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
  return askBeforeDestructive({
    title: trans.__('Shorten the CodeLab lease?'),
    paragraphs: [
      message,
      trans._n(
        'Keeping it for %1 hour from now makes it stop sooner than it would.',
        'Keeping it for %1 hours from now makes it stop sooner than it would.',
        hours
      )
    ],
    cancel: trans.__('Keep the current lease'),
    action: trans.__('Shorten')
  });
}

/** Ask before stopping the instance. */
export async function confirmStop(
  trans: TranslationBundle,
  instance: IInstance
): Promise<boolean> {
  return askBeforeDestructive({
    title: trans.__('Stop CodeLab?'),
    paragraphs: [
      trans.__(
        'Stopping %1 ends its kernels and terminals; unsaved changes in its notebooks are lost.',
        instance.name || instance.id
      ),
      trans.__(
        'Saved files stay in its storage, but a free instance left unused for 72 hours is released with its files.'
      )
    ],
    cancel: trans.__('Cancel'),
    action: trans.__('Stop')
  });
}
