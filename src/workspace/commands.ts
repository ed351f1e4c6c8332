/**
 * "Open in CodeLab" in the file browser's context menu (a notebook or a
 * folder: link, push, then open the instance at it), the Workspace commands
 * of the palette, and what the panel says when the lease guard pulled by itself.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { FileBrowser } from '@jupyterlab/filebrowser';
import { TranslationBundle } from '@jupyterlab/translation';

import { CodeLabModel } from '../model';
import { CommandIDs, PALETTE_CATEGORY } from '../tokens';
import { IWorkspaceJob } from './api';
import { WorkspaceModel } from './model';

/** The ids of the Workspace commands. */
export namespace WorkspaceCommandIDs {
  /** Push the selected notebook or folder and open the instance at it. */
  export const openInCodeLab = 'codelab:open-in-codelab';
  export const push = 'codelab:workspace-push';
  export const pull = 'codelab:workspace-pull';
  export const sync = 'codelab:workspace-sync';
}

/** What the file browser's selection is, for Open in CodeLab. */
export interface ITarget {
  /** Relative to the Jupyter root. */
  path: string;
  isFolder: boolean;
}

/** The longest wait for an instance to run before pushing (it usually takes well under a minute). */
const RUNNING_TIMEOUT_MS = 15 * 60 * 1000;

/** Resolves once the instance runs; rejects when it fails or stops first. */
export function whenRunning(
  model: CodeLabModel,
  trans: TranslationBundle,
  timeoutMs = RUNNING_TIMEOUT_MS
): Promise<void> {
  if (model.isRunning) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      model.stateChanged.disconnect(check);
      clearTimeout(timer);
      if (error) {
        reject(error);
      } else {
        resolve();
      }
    };
    const check = () => {
      if (model.isRunning) {
        done();
      } else if (
        !model.opening &&
        !model.isTransitional &&
        model.instance !== null
      ) {
        done(new Error(trans.__('The CodeLab instance did not start.')));
      }
    };
    const timer = setTimeout(
      () => done(new Error(trans.__('The CodeLab instance did not start.'))),
      timeoutMs
    );
    model.stateChanged.connect(check);
  });
}

/**
 * Open in CodeLab: start the instance if needed, link the folder (the
 * notebook's folder, unless it lies in the folder already linked), push, and
 * answer the URL of the instance's JupyterLab at the target (null on failure;
 * the reason is in a notification).
 */
export async function openInCodeLab(
  target: ITarget,
  codelab: CodeLabModel,
  workspace: WorkspaceModel,
  trans: TranslationBundle
): Promise<string | null> {
  // the panel may never have been shown: load the status, the catalogue (the default image the
  // open names) and the current instance first, so a running instance is found, not reopened;
  // and the instance it shows may be gone (deleted by ModelArts after 72 h unused, replaced by a
  // Stop and an open from another machine): the server says which one the account has now, in
  // the one GET instances the load makes
  await codelab.refresh({ checkInstance: true });
  if (!codelab.isRunning) {
    if (!codelab.isTransitional && !(await codelab.open())) {
      Notification.error(
        codelab.openError ||
          trans.__('CodeLab could not be opened: open it from its panel.'),
        { autoClose: false }
      );
      return null;
    }
    await whenRunning(codelab, trans);
  }
  // the link of the instance that runs now (not of one the panel showed before)
  await workspace.refresh({ waiting: false });
  const folder = target.isFolder ? target.path : PathExt.dirname(target.path);
  const linked = workspace.workspace?.link?.local ?? null;
  let base = folder;
  if (
    linked !== null &&
    (linked === '' || folder === linked || folder.startsWith(`${linked}/`))
  ) {
    base = linked;
  } else if (!(await workspace.link(folder))) {
    Notification.error(
      trans.__('Could not link %1: %2', folder || '/', workspace.error ?? ''),
      { autoClose: false }
    );
    return null;
  }
  const relative = base ? target.path.slice(base.length + 1) : target.path;
  const open = relative || '.';
  const job = await workspace.run('push', open);
  if (!job || job.state !== 'done') {
    Notification.error(
      trans.__(
        'Could not send %1 to CodeLab: %2',
        target.path || '/',
        job?.error?.message ?? workspace.error ?? ''
      ),
      { autoClose: false }
    );
    return null;
  }
  return job.open_url;
}

/** Tell the user what the lease guard did by itself. */
export function announceGuardJob(
  job: IWorkspaceJob,
  trans: TranslationBundle,
  extend: () => void
): void {
  if (job.state === 'running') {
    Notification.info(
      job.trigger === 'lease'
        ? trans.__(
            'The CodeLab lease ends soon: pulling your changes back to the linked folder…'
          )
        : trans.__('Pulling your changes back from CodeLab first…'),
      { autoClose: 5000 }
    );
    return;
  }
  if (job.state === 'done') {
    const pulled = job.result?.pulled.length ?? 0;
    Notification.success(
      trans._n(
        'Pulled %1 changed file back from CodeLab.',
        'Pulled %1 changed files back from CodeLab.',
        pulled
      ),
      { autoClose: 8000 }
    );
    return;
  }
  const files = job.not_home ?? [];
  const listed = files.slice(0, 5).join(', ');
  Notification.warning(
    files.length
      ? trans._n(
          '%1 changed file on CodeLab is not home yet: %2. Extend the lease and pull again.',
          '%1 changed files on CodeLab are not home yet: %2. Extend the lease and pull again.',
          files.length,
          files.length > 5 ? `${listed}, …` : listed
        )
      : trans.__(
          'Your changes on CodeLab could not be pulled back: %1. Extend the lease and pull again.',
          job.error?.message ?? ''
        ),
    {
      autoClose: false,
      actions: [{ label: trans.__('Extend 1 hour'), callback: extend }]
    }
  );
}

/** The selected item of the file browser, if it is a notebook or a folder. */
function selectedTarget(browser: FileBrowser | null): ITarget | null {
  const item = browser?.selectedItems().next();
  if (!item || item.done || !item.value) {
    return null;
  }
  const model = item.value;
  if (model.type === 'directory') {
    return { path: model.path, isFolder: true };
  }
  if (model.type === 'notebook') {
    return { path: model.path, isFolder: false };
  }
  return null;
}

export function addWorkspaceCommands(
  app: JupyterFrontEnd,
  codelab: CodeLabModel,
  workspace: WorkspaceModel,
  trans: TranslationBundle,
  browser: FileBrowser | null,
  palette: ICommandPalette | null
): void {
  const { commands } = app;
  commands.addCommand(WorkspaceCommandIDs.openInCodeLab, {
    label: trans.__('Open in CodeLab'),
    caption: trans.__(
      'Send this notebook or folder to your CodeLab instance and open it there'
    ),
    isEnabled: () => !workspace.running && !codelab.opening,
    isVisible: () => selectedTarget(browser) !== null,
    execute: async args => {
      const target =
        typeof args.path === 'string'
          ? { path: args.path, isFolder: !!args.isFolder }
          : selectedTarget(browser);
      if (!target) {
        return;
      }
      // opened now, while the click still counts as the user's: popup blockers allow it
      const tab = window.open('', '_blank');
      let url: string | null = null;
      try {
        url = await openInCodeLab(target, codelab, workspace, trans);
      } catch (error) {
        Notification.error(String((error as Error).message ?? error), {
          autoClose: false
        });
      }
      if (url && tab) {
        tab.opener = null;
        tab.location.href = url;
      } else if (url) {
        Notification.success(trans.__('%1 is on CodeLab.', target.path), {
          autoClose: false,
          actions: [
            {
              label: trans.__('Open in new tab'),
              callback: () => void window.open(url ?? '', '_blank', 'noopener')
            }
          ]
        });
      } else {
        tab?.close();
      }
    }
  });
  // a notebook or a folder of the file browser (a context-menu selector takes no comma)
  const selectors = browser
    ? [
        '.jp-DirListing-item[data-isdir="true"]',
        '.jp-DirListing-item[data-file-type="notebook"]'
      ]
    : [];
  for (const selector of selectors) {
    app.contextMenu.addItem({
      command: WorkspaceCommandIDs.openInCodeLab,
      selector,
      rank: 3
    });
  }

  const transfer = (
    id: string,
    kind: IWorkspaceJob['kind'],
    label: string,
    caption: string
  ) => {
    commands.addCommand(id, {
      label,
      caption,
      isEnabled: () =>
        !!workspace.workspace?.link && !workspace.running && codelab.isRunning,
      execute: async () => {
        const job = await workspace.run(kind);
        if (job?.state === 'failed') {
          Notification.error(job.error?.message ?? label, {
            autoClose: false
          });
        }
      }
    });
    palette?.addItem({ command: id, category: PALETTE_CATEGORY });
  };
  transfer(
    WorkspaceCommandIDs.push,
    'push',
    trans.__('Push Linked Folder to CodeLab'),
    trans.__('Send local changes of the linked folder to the instance')
  );
  transfer(
    WorkspaceCommandIDs.pull,
    'pull',
    trans.__('Pull Linked Folder from CodeLab'),
    trans.__("Bring the instance's changes back to the linked folder")
  );
  transfer(
    WorkspaceCommandIDs.sync,
    'sync',
    trans.__('Sync Linked Folder with CodeLab'),
    trans.__('Push and pull the linked folder')
  );

  workspace.guardJob.connect((_, job) =>
    announceGuardJob(
      job,
      trans,
      () => void commands.execute(CommandIDs.extend, { hours: 1 })
    )
  );
}
