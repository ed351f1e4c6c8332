import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { IWorkspaceJob, IWorkspaceLink } from '../workspace/api';
import { jobVerb, progressFraction, progressText } from '../workspace/format';
import { isGuardJob, WorkspaceModel } from '../workspace/model';
import { ActionButton, ErrorLine, Section } from './Section';
import { useSignal } from './useModel';

/** What the Workspace section's buttons do that needs the application. */
export interface IWorkspaceActions {
  /** The folder the file browser shows (relative to the Jupyter root), to link it. */
  currentFolder(): string | null;
  /** Open a local file (relative to the Jupyter root) in JupyterLab. */
  openFile(path: string): void;
  /** Keep the instance running one more hour. */
  extend(): void;
  /** Ask before forgetting the link (true: the user chose Unlink). */
  confirmUnlink(link: IWorkspaceLink): Promise<boolean>;
}

function joinPath(folder: string | null, path: string): string {
  return folder ? `${folder}/${path}` : path;
}

function FileList(props: {
  files: string[];
  label: string;
  limit?: number;
}): JSX.Element | null {
  const { files, label } = props;
  const limit = props.limit ?? 8;
  if (!files.length) {
    return null;
  }
  const shown = files.slice(0, limit);
  return (
    <ul className="jp-CodeLab-fileList" aria-label={label}>
      {shown.map(f => (
        <li key={f} className="jp-CodeLab-wrap">
          {f}
        </li>
      ))}
      {files.length > shown.length && (
        <li className="jp-CodeLab-hint">…{files.length - shown.length}</li>
      )}
    </ul>
  );
}

/** The outcome of the newest job in one line. */
function resultLine(trans: TranslationBundle, job: IWorkspaceJob): string {
  const r = job.result;
  const pushed = r?.pushed.length ?? 0;
  const pulled = r?.pulled.length ?? 0;
  const conflicts = r?.conflicts.length ?? 0;
  const parts = [
    trans._n('%1 file pushed', '%1 files pushed', pushed),
    trans._n('%1 file pulled', '%1 files pulled', pulled)
  ];
  if (conflicts) {
    parts.push(trans._n('%1 conflict', '%1 conflicts', conflicts));
  }
  return parts.join(' · ');
}

function guardLine(trans: TranslationBundle, job: IWorkspaceJob): string {
  switch (job.trigger) {
    case 'lease':
      return trans.__('Pulled back by itself before the lease ends.');
    case 'stop':
      return trans.__('Pulled back by itself before stopping.');
    default:
      return trans.__('Pulled back by itself before switching image.');
  }
}

/**
 * The running instance's workspace: the linked folder, the last sync, what
 * waits on each side, Push / Pull / Sync with a progress bar, conflicts with
 * both copies openable, and the files the lease guard could not bring home.
 */
export function WorkspaceSection(props: {
  model: WorkspaceModel;
  trans: TranslationBundle;
  actions: IWorkspaceActions;
}): JSX.Element | null {
  const { model, trans, actions } = props;
  useSignal(model.changed);
  if (!model.instanceId) {
    return null;
  }
  const ws = model.workspace;
  const link = ws?.link ?? null;
  const job = model.job;
  const running = model.running;
  const notHome = model.notHome;
  const conflicts =
    job?.state !== 'running' ? (job?.result?.conflicts ?? []) : [];
  // the link and the manifest are forgotten: the user says so first
  const unlinkAfterAsking = async (shown: IWorkspaceLink) => {
    if (await actions.confirmUnlink(shown)) {
      await model.unlink();
    }
  };

  return (
    <Section
      id="workspace"
      title={trans.__('Workspace')}
      className="jp-CodeLab-workspace"
    >
      {!link && (
        <>
          <p className="jp-CodeLab-summary">
            {trans.__(
              'No folder is linked. Right-click a notebook or folder in the file browser and choose Open in CodeLab, or link the folder shown there.'
            )}
          </p>
          <div className="jp-CodeLab-actions">
            <ActionButton
              disabled={model.loading}
              onClick={() => {
                const folder = actions.currentFolder();
                if (folder !== null) {
                  void model.link(folder);
                }
              }}
            >
              {trans.__('Link current folder')}
            </ActionButton>
          </div>
        </>
      )}
      {link && (
        <>
          <dl className="jp-CodeLab-facts">
            <dt>{trans.__('Local folder')}</dt>
            <dd className="jp-CodeLab-wrap" data-testid="workspace-local">
              {link.local === null
                ? link.local_path
                : link.local || trans.__('(Jupyter root)')}
            </dd>
            <dt>{trans.__('On the instance')}</dt>
            <dd className="jp-CodeLab-wrap">{link.remote}</dd>
            <dt>{trans.__('Last sync')}</dt>
            <dd>
              {link.last_sync
                ? new Date(link.last_sync).toLocaleString()
                : trans.__('never')}
            </dd>
          </dl>
          {ws?.waiting && (
            <div className="jp-CodeLab-waiting">
              <p className="jp-CodeLab-summary" data-testid="workspace-waiting">
                {trans.__(
                  'Waiting: %1 to push, %2 to pull',
                  ws.waiting.local.length,
                  ws.waiting.remote.length
                )}
              </p>
              <FileList
                files={ws.waiting.local}
                label={trans.__('Changed here, to push')}
              />
              <FileList
                files={ws.waiting.remote}
                label={trans.__('Changed on the instance, to pull')}
              />
            </div>
          )}
          {ws?.waiting_error && (
            <p className="jp-CodeLab-hint">{ws.waiting_error}</p>
          )}
          <div className="jp-CodeLab-actions">
            <ActionButton
              kind="accept"
              disabled={running}
              onClick={() => void model.run('sync')}
            >
              {trans.__('Sync')}
            </ActionButton>
            <ActionButton
              disabled={running}
              onClick={() => void model.run('push')}
            >
              {trans.__('Push')}
            </ActionButton>
            <ActionButton
              disabled={running}
              onClick={() => void model.run('pull')}
            >
              {trans.__('Pull')}
            </ActionButton>
          </div>
        </>
      )}
      {job && running && (
        <div className="jp-CodeLab-transfer" role="status">
          <label
            className="jp-CodeLab-hint"
            htmlFor="codelab-workspace-progress"
          >
            {jobVerb(trans, job)} {progressText(trans, job.progress)}
          </label>
          <progress
            id="codelab-workspace-progress"
            className="jp-CodeLab-progress"
            max={1}
            value={progressFraction(job.progress) ?? undefined}
          />
        </div>
      )}
      {job && !running && job.state === 'done' && (
        <p className="jp-CodeLab-hint" data-testid="workspace-result">
          {isGuardJob(job) ? `${guardLine(trans, job)} ` : ''}
          {resultLine(trans, job)}
        </p>
      )}
      {job && !running && job.state === 'failed' && job.error?.message && (
        <ErrorLine message={job.error.message} />
      )}
      {notHome && (
        <div className="jp-CodeLab-warning" role="alert">
          <p>
            {notHome.length
              ? trans._n(
                  '%1 changed file on the instance is not home yet:',
                  '%1 changed files on the instance are not home yet:',
                  notHome.length
                )
              : trans.__(
                  'The linked folder could not be pulled back before the lease ends.'
                )}
          </p>
          <FileList files={notHome} label={trans.__('Not home yet')} />
          <ActionButton kind="accept" onClick={actions.extend}>
            {trans.__('Extend 1 hour')}
          </ActionButton>
        </div>
      )}
      {conflicts.length > 0 && link && (
        <div className="jp-CodeLab-conflicts">
          <p className="jp-CodeLab-summary">
            {trans.__(
              'Changed on both sides: both copies are kept here. Compare them and keep what you want.'
            )}
          </p>
          <ul className="jp-CodeLab-fileList">
            {conflicts.map(c => (
              <li key={c.path} className="jp-CodeLab-conflict">
                <span className="jp-CodeLab-wrap">{c.path}</span>
                <span className="jp-CodeLab-actions">
                  <ActionButton
                    onClick={() =>
                      actions.openFile(joinPath(link.local, c.path))
                    }
                    aria-label={trans.__('Open your copy of %1', c.path)}
                  >
                    {trans.__('Yours')}
                  </ActionButton>
                  <ActionButton
                    onClick={() =>
                      actions.openFile(joinPath(link.local, c.copy))
                    }
                    aria-label={trans.__(
                      "Open the instance's copy of %1",
                      c.path
                    )}
                    title={c.copy}
                  >
                    {trans.__("Instance's")}
                  </ActionButton>
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
      {model.error && <ErrorLine message={model.error} />}
      {link && (
        <div className="jp-CodeLab-workspaceFooter">
          {ws?.pull_before_stop && (
            <p className="jp-CodeLab-hint">
              {trans.__(
                'Changes on the instance are pulled back by themselves before Stop, before a switch of image and before the lease ends.'
              )}
            </p>
          )}
          <ActionButton
            disabled={running}
            onClick={() => void unlinkAfterAsking(link)}
            title={trans.__(
              'Forget the link; no file is deleted on either side'
            )}
          >
            {trans.__('Unlink')}
          </ActionButton>
        </div>
      )}
    </Section>
  );
}
