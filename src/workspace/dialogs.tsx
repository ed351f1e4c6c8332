import { Dialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { askBeforeDestructive } from '../dialogs';
import { IErrorBody, IInstance } from '../tokens';
import { IWorkspaceLink } from './api';

/** How many of the files not yet home a dialog lists (the count is always given). */
const LISTED = 12;

/**
 * Unlink forgets the link and its manifest (no file is deleted), so the next
 * link cannot tell a file deleted on one side from a new file on the other:
 * ask first. Resolves true when the user chose Unlink.
 */
export async function confirmUnlink(
  trans: TranslationBundle,
  link: IWorkspaceLink
): Promise<boolean> {
  const folder = link.local || link.local_path;
  return askBeforeDestructive({
    title: trans.__('Unlink %1?', folder),
    paragraphs: [
      trans.__(
        'CodeLab forgets that %1 goes with %2 on the instance, and what both held at the last sync. No file is deleted on either side.',
        folder,
        link.remote
      ),
      trans.__(
        'If you link them again, the first sync cannot tell a file deleted on one side from a new file on the other: it brings deleted files back instead of deleting them.'
      )
    ],
    cancel: trans.__('Cancel'),
    action: trans.__('Unlink')
  });
}

/**
 * A Stop or a switch was refused: the linked folder's changes could not be
 * pulled back (409 `codelab.files_not_home`). List them and offer Extend.
 */
export async function confirmFilesNotHome(
  trans: TranslationBundle,
  instance: IInstance | null,
  body: IErrorBody
): Promise<'extend' | 'leave' | 'cancel'> {
  const files = body.files ?? [];
  const count = body.files_count ?? files.length;
  const result = await showDialog({
    title: trans.__('Your changes on CodeLab are not home yet'),
    body: (
      <div className="jp-CodeLab-dialog">
        {body.message && <p>{body.message}</p>}
        {count > 0 && (
          <>
            <p>
              {trans._n(
                '%1 file changed on %2 is not in your local folder yet:',
                '%1 files changed on %2 are not in your local folder yet:',
                count,
                instance?.name || instance?.id || trans.__('the instance')
              )}
            </p>
            <ul className="jp-CodeLab-fileList">
              {files.slice(0, LISTED).map(f => (
                <li key={f}>{f}</li>
              ))}
              {count > LISTED && <li>…{count - LISTED}</li>}
            </ul>
          </>
        )}
        <p>
          {trans.__(
            'Extend the lease and pull again from the Workspace section, or go on: the files stay on the instance until it is released.'
          )}
        </p>
      </div>
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Cancel') }),
      Dialog.warnButton({
        label: trans.__('Go on without them'),
        ariaLabel: trans.__('Go on without the files not yet home')
      }),
      Dialog.okButton({ label: trans.__('Extend 1 hour') })
    ],
    defaultButton: 2
  });
  if (!result.button.accept) {
    return 'cancel';
  }
  return result.button.displayType === 'warn' ? 'leave' : 'extend';
}
