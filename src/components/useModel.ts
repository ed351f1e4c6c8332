import { useEffect, useReducer } from 'react';

import { CodeLabModel } from '../model';

/** Re-render the calling component whenever the model changes. */
export function useModel(model: CodeLabModel): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onChange = () => bump();
    model.stateChanged.connect(onChange);
    return () => {
      model.stateChanged.disconnect(onChange);
    };
  }, [model]);
}
