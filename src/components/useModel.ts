import { ISignal } from '@lumino/signaling';
import { useEffect, useReducer } from 'react';

import { CodeLabModel } from '../model';

/**
 * Re-render the calling component whenever `signal` fires. The effect connects after the
 * render has been committed (a ReactWidget renders a moment after it is shown): what fired
 * in between, such as the answer to the panel's first requests, would be missed and the
 * component would show the state it rendered with until the next change. So it renders once
 * more when it connects.
 */
export function useSignal(signal: ISignal<unknown, unknown>): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onEmit = () => bump();
    signal.connect(onEmit);
    bump();
    return () => {
      signal.disconnect(onEmit);
    };
  }, [signal]);
}

/** Re-render the calling component whenever something the model shows changes. */
export function useModel(model: CodeLabModel): void {
  useSignal(model.stateChanged);
}

/**
 * Re-render the calling component every second while the model's clock runs.
 * Only the small components that show a countdown or an elapsed time use it:
 * the sections around them re-render on `stateChanged` alone.
 */
export function useTick(model: CodeLabModel): void {
  useSignal(model.tick);
}
