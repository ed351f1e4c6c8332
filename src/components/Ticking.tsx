import React from 'react';

import { CodeLabModel } from '../model';
import { useTick } from './useModel';

/**
 * A piece of a view that changes every second (a countdown, an elapsed time):
 * `children` is called again on each tick of the model, and only this piece
 * re-renders.
 */
export function Ticking(props: {
  model: CodeLabModel;
  children: () => React.ReactNode;
}): JSX.Element {
  useTick(props.model);
  return <>{props.children()}</>;
}
