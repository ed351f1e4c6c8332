/**
 * The "CodeLab stops in m:ss" toast, kept in step with the countdown: one
 * toast, its text updated while the lease runs down, dismissed when the
 * instance is extended or stops.
 */
import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { formatCountdown } from './logic';
import { CodeLabModel } from './model';

let toastId: string | null = null;
let lastText = '';
/** The files of the linked folder the lease guard could not bring home (null: none). */
let notHomeOf: () => string[] | null = () => null;

function message(trans: TranslationBundle, remainingMs: number): string {
  const text = trans.__(
    'CodeLab stops in %1 unless you extend it.',
    formatCountdown(remainingMs)
  );
  const files = notHomeOf();
  if (!files) {
    return text;
  }
  const listed = files.slice(0, 5).join(', ') + (files.length > 5 ? ', …' : '');
  return files.length
    ? `${text} ${trans._n(
        '%1 changed file is not home yet: %2.',
        '%1 changed files are not home yet: %2.',
        files.length,
        listed
      )}`
    : `${text} ${trans.__('Your changes there could not be pulled back yet.')}`;
}

/** Show the toast (or bring the existing one up to date). */
export function showExpiringToast(
  trans: TranslationBundle,
  remainingMs: number,
  extend: () => void
): void {
  const text = message(trans, remainingMs);
  if (toastId && Notification.update({ id: toastId, message: text })) {
    lastText = text;
    return;
  }
  lastText = text;
  toastId = Notification.warning(text, {
    autoClose: false,
    actions: [{ label: trans.__('Extend 1 hour'), callback: extend }]
  });
}

/** Follow the model: update the toast every second, dismiss it when the warning no longer holds. */
export function followExpiringToast(
  model: CodeLabModel,
  trans: TranslationBundle,
  notHome?: () => string[] | null
): void {
  if (notHome) {
    notHomeOf = notHome;
  }
  const follow = () => {
    if (!toastId) {
      return;
    }
    const remaining = model.remainingMs;
    if (!model.expiring || remaining === null) {
      Notification.dismiss(toastId);
      toastId = null;
      lastText = '';
      return;
    }
    const text = message(trans, remaining);
    if (text === lastText) {
      return;
    }
    if (Notification.update({ id: toastId, message: text })) {
      lastText = text;
    } else {
      toastId = null; // the user closed it: do not bring it back
    }
  };
  model.stateChanged.connect(follow);
  model.tick.connect(follow);
}
