/**
 * Words the panel shows for values the server sends as codes (instance status) or numbers
 * (elapsed time), in the panel's language. The codes stay in `data-status` attributes.
 */
import { TranslationBundle } from '@jupyterlab/translation';

/**
 * The instance status as the user reads it (`RUNNING` → "Running"). A status ModelArts adds
 * later reads as words (`NEW_STATE` → "new state"), never raw upper case with underscores.
 */
export function statusLabel(trans: TranslationBundle, status: string): string {
  switch (status.toUpperCase()) {
    case 'INIT':
      return trans.__('Preparing');
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
      return trans.__('Saving a snapshot');
    case 'CREATE_FAILED':
      return trans.__('Creation failed');
    case 'START_FAILED':
      return trans.__('Start failed');
    case 'DELETE_FAILED':
      return trans.__('Deletion failed');
    case 'ERROR':
      return trans.__('Error');
    case 'FROZEN':
      return trans.__('Frozen (account in arrears)');
    default:
      return status.replace(/_/g, ' ').toLowerCase();
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

/** A lease length in hours: `1 hour`, `72 hours` (in the panel's language). */
export function hoursLabel(trans: TranslationBundle, hours: number): string {
  return trans._n('%1 hour', '%1 hours', hours);
}
