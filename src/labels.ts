/**
 * Words the panel shows for values the server sends as codes (instance status) or numbers
 * (elapsed time), in the panel's language. The codes stay in `data-status` attributes.
 */
import { TranslationBundle } from '@jupyterlab/translation';

/** The instance status as the user reads it (`RUNNING` → "Running"); unknown codes as sent. */
export function statusLabel(trans: TranslationBundle, status: string): string {
  switch (status) {
    case 'INIT':
      return trans.__('Initialising');
    case 'CREATING':
      return trans.__('Creating');
    case 'STARTING':
      return trans.__('Starting');
    case 'RUNNING':
      return trans.__('Running');
    case 'STOPPING':
      return trans.__('Stopping');
    case 'STOPPED':
      return trans.__('Stopped');
    case 'DELETING':
      return trans.__('Deleting');
    case 'DELETED':
      return trans.__('Deleted');
    case 'SNAPSHOTTING':
      return trans.__('Saving an image');
    case 'CREATE_FAILED':
      return trans.__('Creation failed');
    case 'START_FAILED':
      return trans.__('Start failed');
    case 'DELETE_FAILED':
      return trans.__('Deletion failed');
    case 'ERROR':
      return trans.__('Error');
    case 'FROZEN':
      return trans.__('Frozen');
    default:
      return status;
  }
}

/** A short elapsed time: `12 s`, `1 min 05 s` (in the panel's language). */
export function elapsedLabel(trans: TranslationBundle, ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) {
    return trans.__('%1 s', total);
  }
  const minutes = Math.floor(total / 60);
  return trans.__('%1 min %2 s', minutes, String(total % 60).padStart(2, '0'));
}
