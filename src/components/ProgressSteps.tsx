import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { formatElapsed, IStepView, StepState } from '../logic';
import { CodeLabModel } from '../model';
import { ErrorLine, Section } from './Section';
import { Ticking } from './Ticking';
import { useModel } from './useModel';

export function stepLabel(step: number, trans: TranslationBundle): string {
  switch (step) {
    case 1:
      return trans.__('Storage');
    case 2:
      return trans.__('Compute');
    case 3:
      return trans.__('Network');
    case 4:
      return trans.__('Instance initialisation');
    default:
      return trans.__('Step %1', step);
  }
}

export function stateLabel(state: StepState, trans: TranslationBundle): string {
  switch (state) {
    case 'waiting':
      return trans.__('waiting');
    case 'active':
      return trans.__('in progress');
    case 'done':
      return trans.__('done');
    case 'failed':
      return trans.__('failed');
  }
}

const MARKS: Record<StepState, string> = {
  waiting: '',
  active: '',
  done: '✓',
  failed: '✕'
};

/** The elapsed time of a step; the active step's counts every second. */
function StepTime(props: { model: CodeLabModel; view: IStepView }) {
  const { model, view } = props;
  const text = (elapsedMs: number | null) =>
    elapsedMs !== null ? formatElapsed(elapsedMs) : '';
  if (view.state !== 'active') {
    return <>{text(view.elapsedMs)}</>;
  }
  return (
    <Ticking model={model}>
      {() =>
        text(model.steps.find(s => s.step === view.step)?.elapsedMs ?? null)
      }
    </Ticking>
  );
}

function StepItem(props: {
  model: CodeLabModel;
  view: IStepView;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, view, trans } = props;
  return (
    <li
      className={`jp-CodeLab-step jp-mod-${view.state}`}
      data-step={view.step}
      data-state={view.state}
      aria-current={view.state === 'active' ? 'step' : undefined}
    >
      <span className="jp-CodeLab-stepMark" aria-hidden="true">
        {MARKS[view.state]}
      </span>
      <span className="jp-CodeLab-stepText">
        <span className="jp-CodeLab-stepLabel">
          {stepLabel(view.step, trans)}
        </span>
        <span className="jp-CodeLab-stepState">
          {stateLabel(view.state, trans)}
          {view.description ? ` · ${view.description}` : ''}
        </span>
      </span>
      <span className="jp-CodeLab-stepTime">
        <StepTime model={model} view={view} />
      </span>
    </li>
  );
}

/** The four start-up steps, their state and elapsed time; the failure reason with Retry. */
export function ProgressSteps(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onRetry: () => void;
}): JSX.Element | null {
  const { model, trans } = props;
  useModel(model);
  const instance = model.instance;
  if (!instance) {
    return null;
  }
  const steps = model.steps;
  const active = steps.find(s => s.state === 'active');
  const doneCount = steps.filter(s => s.state === 'done').length;
  let summary: string;
  if (model.isFailed) {
    summary = trans.__('Start-up failed.');
  } else if (active) {
    summary = trans.__(
      'Step %1 of 4: %2',
      active.step,
      stepLabel(active.step, trans)
    );
  } else if (doneCount === 4) {
    summary = trans.__('All four steps are done.');
  } else {
    summary = trans.__('%1 of 4 steps done.', doneCount);
  }

  return (
    <Section id="progress" title={trans.__('Progress')}>
      <p className="jp-CodeLab-hint" aria-live="polite">
        {summary}
      </p>
      <ol className="jp-CodeLab-steps" aria-label={trans.__('Start-up steps')}>
        {steps.map(view => (
          <StepItem key={view.step} model={model} view={view} trans={trans} />
        ))}
      </ol>
      {model.isFailed && (
        <ErrorLine
          message={
            instance.fail_reason ||
            trans.__(
              'The instance reported %1 without a reason.',
              instance.status
            )
          }
          action={{ label: trans.__('Retry'), onClick: props.onRetry }}
        />
      )}
    </Section>
  );
}
