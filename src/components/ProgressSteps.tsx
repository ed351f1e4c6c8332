import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { elapsedLabel } from '../labels';
import { IStepView, STEP_NUMBERS, StepState } from '../logic';
import { CodeLabModel } from '../model';
import { ActionButton, ErrorLine, Section } from './Section';
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
function StepTime(props: {
  model: CodeLabModel;
  view: IStepView;
  trans: TranslationBundle;
}) {
  const { model, view, trans } = props;
  const text = (elapsedMs: number | null) =>
    elapsedMs !== null ? elapsedLabel(trans, elapsedMs) : '';
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
        <StepTime model={model} view={view} trans={trans} />
      </span>
    </li>
  );
}

/** While the instance starts: the four steps, their state and elapsed time, and Cancel (stop). */
export function ProgressSteps(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onCancel: () => void;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const instance = model.instance;
  const steps = instance
    ? model.steps
    : STEP_NUMBERS.map(step => ({
        step,
        state: 'waiting' as StepState,
        description: '',
        elapsedMs: null
      }));
  const active = steps.find(s => s.state === 'active');
  const doneCount = steps.filter(s => s.state === 'done').length;
  let summary: string;
  if (!instance) {
    summary = trans.__('Asking ModelArts for your instance…');
  } else if (active) {
    summary = trans.__(
      'Step %1 of 4: %2',
      active.step,
      stepLabel(active.step, trans)
    );
  } else {
    summary = trans.__('%1 of 4 steps done.', doneCount);
  }

  return (
    <Section id="progress" title={trans.__('Starting CodeLab')}>
      <p className="jp-CodeLab-summary" aria-live="polite">
        {summary}
      </p>
      <ol className="jp-CodeLab-steps" aria-label={trans.__('Start-up steps')}>
        {steps.map(view => (
          <StepItem key={view.step} model={model} view={view} trans={trans} />
        ))}
      </ol>
      <p className="jp-CodeLab-hint">
        {trans.__(
          'The first start takes one to two minutes. You can keep working here meanwhile.'
        )}
      </p>
      <div className="jp-CodeLab-actions">
        <ActionButton
          kind="warn"
          disabled={!instance || model.busy !== null}
          onClick={props.onCancel}
        >
          {model.busy === 'stop' ? trans.__('Stopping…') : trans.__('Cancel')}
        </ActionButton>
      </div>
      {model.actionError && <ErrorLine message={model.actionError} />}
    </Section>
  );
}
