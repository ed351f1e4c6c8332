/** Small display helpers of the Workspace section (sizes and progress in words). */
import { TranslationBundle } from '@jupyterlab/translation';

import { IWorkspaceJob, IWorkspaceProgress } from './api';

/** A byte count for people: 0 B, 12 KB, 3.4 MB, 1.2 GB (powers of 1024). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown =
    unit === 0 || value >= 10 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${shown} ${units[unit]}`;
}

/** 0..1 of a job's progress (bytes when known, else files), null when nothing is known yet. */
export function progressFraction(progress: IWorkspaceProgress): number | null {
  const { bytes_done, bytes_total, files_done, files_total } = progress;
  if (bytes_total && bytes_total > 0) {
    return Math.min(1, (bytes_done ?? 0) / bytes_total);
  }
  if (files_total && files_total > 0) {
    return Math.min(1, (files_done ?? 0) / files_total);
  }
  return null;
}

/** "Pushing…", "Pulling…", "Syncing…" */
export function jobVerb(trans: TranslationBundle, job: IWorkspaceJob): string {
  switch (job.kind) {
    case 'push':
      return trans.__('Pushing…');
    case 'pull':
      return trans.__('Pulling…');
    default:
      return trans.__('Syncing…');
  }
}

/** "3 of 10 files · 1.2 MB of 4 MB" */
export function progressText(
  trans: TranslationBundle,
  progress: IWorkspaceProgress
): string {
  if (progress.phase === 'scan' || !progress.files_total) {
    return trans.__('Comparing both sides…');
  }
  const files = trans._n(
    '%2 of %1 file',
    '%2 of %1 files',
    progress.files_total,
    progress.files_done ?? 0
  );
  if (!progress.bytes_total) {
    return files;
  }
  return trans.__(
    '%1 · %2 of %3',
    files,
    formatBytes(progress.bytes_done ?? 0),
    formatBytes(progress.bytes_total)
  );
}
